"""When a backing service is briefly unavailable: tell it apart, answer 503, wait, go on.

"Unavailable" means the request or job was fine and Heimdall could not reach
its own database or Redis for a moment:

* the connection pool had no free connection within its timeout
  (`psycopg_pool.PoolTimeout`, `TooManyRequests`);
* PostgreSQL refused or dropped the connection (server down, restarting,
  `too many clients`, `pg_terminate_backend`, a network cut);
* SQLite stayed locked past the busy timeout ("database is locked");
* Redis refused or dropped the connection (cache, channel layer).

HTTP answers 503 `SERVICE_UNAVAILABLE` in the envelope with `Retry-After`
(`api_exception_handler`, `handler500`); WebSocket consumers send an error
frame or close with 4503 "try again later" (`apps.core.websocket_outages`);
long-running processes wait with `backoff_delays` and try again. Everything
else is a real error and stays one.
"""

import logging
import os
import random
import sqlite3
import time
from collections.abc import Iterator

from django import db
from django.db import transaction

logger = logging.getLogger(__name__)

# Seconds a client is asked to wait (Retry-After) per reason.
RETRY_AFTER = {"database_pool_exhausted": 2, "database_busy": 2}
DEFAULT_RETRY_AFTER = 5
# WebSocket close code for "try again later": HTTP 503 + 4000, like 4401/4403.
CLOSE_TRY_AGAIN_LATER = 4503

# PostgreSQL SQLSTATEs that mean the server cannot serve this connection now:
# 53300 too_many_connections, 57P01 admin_shutdown (pg_terminate_backend),
# 57P02 crash_shutdown, 57P03 cannot_connect_now, 08xxx connection exceptions.
_PG_UNAVAILABLE_STATES = {"53300", "57P01", "57P02", "57P03"}
# deadlock_detected, serialization_failure, lock_not_available (PostgreSQL Appendix A).
_PG_CONFLICT_STATES = frozenset({"40P01", "40001", "55P03"})
_SQLITE_BUSY_TEXT = ("database is locked", "database table is locked", "database is busy")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen and len(seen) < 16:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _pool_has_connections() -> bool:
    try:
        pool = db.connections["default"].pool
        return pool is None or pool.get_stats().get("pool_size", 0) > 0
    except Exception:
        return True


def _reason_of(exc: BaseException) -> str | None:
    try:
        import psycopg
        import psycopg_pool
    except ImportError:  # SQLite-only install
        psycopg = psycopg_pool = None
    if psycopg_pool is not None and isinstance(
        exc, psycopg_pool.PoolTimeout | psycopg_pool.TooManyRequests
    ):
        # An empty pool timed out because the server cannot be reached, not
        # because every connection was busy.
        return "database_pool_exhausted" if _pool_has_connections() else "database_unavailable"
    if psycopg is not None and isinstance(exc, psycopg.Error):
        state = getattr(exc, "sqlstate", None)
        if state in _PG_UNAVAILABLE_STATES or (state or "").startswith("08"):
            return "database_unavailable"
        if state in _PG_CONFLICT_STATES:
            # The server rolled the transaction back: nothing was written, the same
            # request sent again succeeds (PostgreSQL docs, "Serialization Failure Handling").
            return "database_busy"
        # No SQLSTATE: raised by the client library itself (connection refused,
        # lost, closed), not by a statement the server rejected.
        if state is None and (
            isinstance(exc, psycopg.OperationalError)
            or (isinstance(exc, psycopg.InterfaceError) and "connection" in str(exc).lower())
        ):
            return "database_unavailable"
        return None
    if isinstance(exc, sqlite3.OperationalError) and any(
        text in str(exc).lower() for text in _SQLITE_BUSY_TEXT
    ):
        return "database_busy"
    if isinstance(exc, db.InterfaceError) and "closed" in str(exc):
        return "database_unavailable"  # Django: "connection already closed"
    try:
        import redis
    except ImportError:
        return None
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError | redis.BusyLoadingError):
        return "redis_unavailable"
    return None


# Errors of the code itself, never of a service: one raised while handling an outage
# (a bug in the fallback, `raise ValueError(...) from exc`) is that bug, not the outage:
# it keeps its traceback (OutageFilter), its 500, and a task is not run again for it.
_BUG_TYPES = (
    ArithmeticError, AssertionError, AttributeError, ImportError, LookupError,
    NameError, NotImplementedError, RecursionError, SyntaxError, TypeError, ValueError,
)  # fmt: skip


def unavailable_reason(exc: BaseException) -> str | None:
    """Why `exc` means a backing service is unavailable, or None for any other error.

    Looks through the chain (`__cause__`, `__context__`): Django wraps psycopg's and
    sqlite3's errors in its own. Not past an error of the code (`_BUG_TYPES`).
    """
    for item in _chain(exc):
        reason = _reason_of(item)
        if reason:
            return reason
        if isinstance(item, _BUG_TYPES):
            return None
    return None


def on_commit_robust(func, what: str) -> None:
    """`transaction.on_commit(func, robust=True)`, except that the database or Redis lost
    between the commit and `func` (a collector during an outage) is a warning naming
    `what` and the reason, not Django's "Error calling ... in on_commit()" with a
    traceback: the commit stands, `func`'s follow-up is what is missed. Any other error
    is still logged by Django with its traceback."""

    def run() -> None:
        try:
            func()
        except Exception as exc:
            reason = unavailable_reason(exc)
            if reason is None:
                raise
            logger.warning("%s: not done after the commit (%s)", what, reason)

    transaction.on_commit(run, robust=True)


# --- the cache as a shortcut ----------------------------------------------------------

_cache_away = {"since": None}  # monotonic time the cache was first found unreachable


def cached(key: str, compute, timeout: float | None):
    """`cache.get(key)`, or `compute()` kept for `timeout` s on a miss (never store None).

    For values the cache only saves recomputing (the deployed model's id, a bundle's
    check): with the cache unreachable (Redis away) `compute()` answers every call, so
    ingest, scoring and the workers go on without Redis instead of failing each batch
    until it is back. One warning when it goes, one line when it is back."""
    from django.core.cache import cache

    try:
        found = cache.get(key)
    except Exception as exc:
        reason = unavailable_reason(exc)
        if reason is None:
            raise
        if _cache_away["since"] is None:
            _cache_away["since"] = time.monotonic()
            logger.warning("cache unreachable (%s): computing what it would give", reason)
        return compute()
    if _cache_away["since"] is not None:
        logger.warning("cache back after %.0f s", time.monotonic() - _cache_away["since"])
        _cache_away["since"] = None
    if found is None:
        found = compute()
        try:
            cache.set(key, found, timeout)
        except Exception as exc:  # gone between the get and the set: next call computes
            if unavailable_reason(exc) is None:
                raise
    return found


def retry_after(reason: str) -> int:
    return RETRY_AFTER.get(reason, DEFAULT_RETRY_AFTER)


def unavailable_payload(reason: str) -> tuple[str, str, dict]:
    """(code, message, details) of the envelope for a 503 or a WebSocket error frame."""
    wait = retry_after(reason)
    messages = {
        "database_pool_exhausted": "The server is busy: no database connection was free.",
        "database_busy": "The database is busy with other writes.",
        "database_unavailable": "The database is unavailable.",
        "redis_unavailable": "Redis (cache / channel layer) is unavailable.",
    }
    message = f"{messages.get(reason, 'A backing service is unavailable.')} Retry in {wait} s."
    return "SERVICE_UNAVAILABLE", message, {"reason": reason, "retry_after_seconds": wait}


# --- long-running processes ------------------------------------------------------


def backoff_delays(initial: float = 1.0, maximum: float = 30.0) -> Iterator[float]:
    """1, 2, 4 … `maximum` seconds, each with ±20 % jitter (many processes, one server)."""
    delay = initial
    while True:
        yield delay * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not crypto
        delay = min(delay * 2, maximum)


# --- forked children (django-q2 forks its workers) ----------------------------------

_inherited: list = []  # kept alive: closing them in a child would close the parent's sockets


def _forget_inherited_connections() -> None:
    """In a forked child: never use the parent's sockets; open our own on first use."""
    try:
        from django.db.backends.postgresql.base import DatabaseWrapper
    except Exception:  # no psycopg: nothing pooled
        DatabaseWrapper = None
    if DatabaseWrapper is not None:
        _inherited.append(dict(DatabaseWrapper._connection_pools))
        DatabaseWrapper._connection_pools.clear()
    for conn in db.connections.all(initialized_only=True):
        if conn.connection is not None:
            _inherited.append(conn.connection)
            conn.connection = None


def install_fork_guard() -> None:
    """Called once from CoreConfig.ready(); idempotent."""
    if not getattr(install_fork_guard, "done", False):
        os.register_at_fork(after_in_child=_forget_inherited_connections)
        install_fork_guard.done = True
