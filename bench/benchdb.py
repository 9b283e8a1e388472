"""The benchmarks' own databases: dropped and created anew at the start of each run."""

import os

SERVER = os.environ.get("BENCH_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432")


def use_database(name: str) -> None:
    """Point Django at `name` on the bench server (call before django.setup())."""
    os.environ["DATABASE_URL"] = f"{SERVER}/{name}"


def recreate_database(name: str) -> None:
    import psycopg

    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
