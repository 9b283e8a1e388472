"""Named locks for the length of a transaction."""

from django.db import connection


def lock_name(name: str) -> None:
    """Hold a lock named `name` until the current transaction ends (call it inside one).

    PostgreSQL: a transaction-level advisory lock on the name's 32-bit hash
    (`pg_advisory_xact_lock(hashtext(name))`; two names may share a hash, which only
    makes one wait for the other). SQLite needs none: its write transactions already
    run one at a time (immediate transactions, docs/running.md).
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])
