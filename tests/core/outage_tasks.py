"""Task bodies for outage tests, run by a real qcluster worker (not a test module)."""

from pathlib import Path

from django.db import connection


def sleep_in_the_database(runs: str, seconds: float) -> str:
    """Notes each start in `runs`; the first run waits `seconds` in the database (long
    enough for the test to cut its connection), a later one does not. Notes "done" last."""
    path = Path(runs)
    first = not path.exists()
    with path.open("a") as out:
        out.write("started\n")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [seconds if first else 0])
    with path.open("a") as out:
        out.write("done\n")
    return "done"


def end_own_connection_once(runs: str) -> str:
    """The first run's connection is terminated by the server under it (what a database
    restart does to every connection); a later run goes through."""
    path = Path(runs)
    first = not path.exists()
    with path.open("a") as out:
        out.write("started\n")
    if first:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
    with path.open("a") as out:
        out.write("done\n")
    return "done"


def always_deadlocked(runs: list) -> None:
    """Fails at once, every time, with an error the services' probe does not see (the
    server rolled the transaction back: 'database_busy')."""
    import psycopg
    from django.db import OperationalError

    runs.append(1)
    try:
        raise psycopg.errors.DeadlockDetected("deadlock detected")
    except psycopg.Error as exc:
        raise OperationalError(str(exc)) from exc
