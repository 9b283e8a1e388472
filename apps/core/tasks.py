"""Task dispatch: one call for every background job, whatever runs it.

`dispatch("apps.x.tasks.do_thing", arg, ...)` enqueues after the current
transaction commits (a worker must see the rows the caller just wrote):

* `django_q` backend: django-q2's `async_task`, picked up by `manage.py qcluster`
  processes (see Procfile); `cluster` names an ALT_CLUSTERS entry.
* `inprocess` backend (embedded mode): a small thread pool inside the web
  process, so events it publishes reach the in-memory channel layer.

Either way the task runs through `run` (for django-q2 schedules too), which
outlasts an outage: a task cut off by the database or Redis going away waits
until the service answers and runs again (every task is idempotent), instead
of being recorded as failed — django-q2, at one attempt, then acknowledges it
and the work is lost.
"""

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils.module_loading import import_string

from apps.core.outages import backoff_delays, unavailable_reason

logger = logging.getLogger(__name__)

RUNNER = "apps.core.tasks.run"
# How long `run` waits for a lost service before it gives the task up (raises): well
# inside the workers' timeout. The broker still holds a task whose failure could not be
# recorded (the database still away) and hands it out again after Q_CLUSTER["retry"].
OUTAGE_WAIT_S = 300.0

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()
_inflight: set[Future] = set()


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=settings.HEIMDALL_INPROCESS_WORKERS, thread_name_prefix="heimdall-task"
            )
        return _executor


def run(func_path: str, *args, **kwargs):
    """Run the task `func_path(*args, **kwargs)`, again after an outage cuts it off.

    An outage (apps.core.outages) is one warning line, then this waits with backoff
    until the service answers; a task that is not idempotent must not be dispatched.
    Any other error, or an outage past OUTAGE_WAIT_S, is raised as before."""
    func = import_string(func_path)
    deadline = time.monotonic() + OUTAGE_WAIT_S
    delays = backoff_delays(maximum=10.0)  # across attempts: a quick failure is not a hot loop
    while True:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            reason = unavailable_reason(exc)
            # Inside a caller's transaction (a synchronous run) there is nothing to redo;
            # a process that is ending must not wait OUTAGE_WAIT_S to exit.
            if (reason is None or connection.in_atomic_block or time.monotonic() > deadline
                    or _process_ending()):  # fmt: skip
                raise
            logger.warning("task %s: interrupted (%s); running it again once it answers",
                           func_path, reason)  # fmt: skip
        _wait_for_services(deadline, delays)


def _wait_for_services(deadline: float, delays: Iterator[float]) -> None:
    """Until the database and the cache both answer, or `deadline` passes; each probe
    after the next of `delays`, even the first: a failure the probe does not see (a
    deadlock, a serialization failure, a lock, the channel layer) would otherwise run
    the task again at once, hundreds of times a second, a warning each."""
    from django.core.cache import cache

    for delay in delays:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not _sleep_unless_ending(min(delay, remaining)):
            return
        close_old_connections()  # a connection the outage broke is not used again
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            cache.get("heimdall:task-probe")
            return
        except Exception as exc:
            if unavailable_reason(exc) is None:
                return  # not an outage: the task's next run says what it is
            connection.close()


_ending = threading.Event()
# Set when the main thread has finished, before the interpreter joins the in-process
# pool's threads (concurrent.futures joins them from the same hook; this one, registered
# later, runs first). threading._register_atexit is how concurrent.futures itself does
# it; atexit.register would run only after the joins.
threading._register_atexit(_ending.set)


def _process_ending() -> bool:
    """The process is exiting: a task waiting out an outage gives up instead of holding
    the exit for up to OUTAGE_WAIT_S."""
    return _ending.is_set()


def _sleep_unless_ending(seconds: float) -> bool:
    """Sleep `seconds` in short steps; False as soon as the process is ending."""
    until = time.monotonic() + seconds
    while (left := until - time.monotonic()) > 0:
        if _process_ending():
            return False
        time.sleep(min(0.25, left))
    return not _process_ending()


def _run_inprocess(func_path: str, args: tuple, kwargs: dict) -> None:
    close_old_connections()
    try:
        run(func_path, *args, **kwargs)
    except Exception:
        logger.exception("in-process task %s failed", func_path)
    finally:
        close_old_connections()


def _enqueue(func_path: str, args: tuple, kwargs: dict, cluster: str | None) -> None:
    if settings.HEIMDALL_TASK_BACKEND == "django_q":
        from django_q.tasks import async_task

        # Named after the task (django-q2's list and log lines): each one runs as `run`.
        options = {"task_name": func_path[:100], **({"cluster": cluster} if cluster else {})}
        async_task(RUNNER, func_path, *args, q_options=options, **kwargs)
    else:
        future = _get_executor().submit(_run_inprocess, func_path, args, kwargs)
        _inflight.add(future)
        future.add_done_callback(_inflight.discard)


def submit_now(func_path: str, *args, cluster: str | None = None, **kwargs) -> None:
    """Enqueue immediately, outside any transaction (schedulers, management commands)."""
    _enqueue(func_path, args, kwargs, cluster)


def dispatch(func_path: str, *args, cluster: str | None = None, **kwargs) -> None:
    """Run `func_path(*args, **kwargs)` in the background once the transaction commits."""
    import_string(func_path)  # fail now, in the caller, on a typo
    transaction.on_commit(lambda: _enqueue(func_path, args, kwargs, cluster))


def inprocess_workers_alive() -> bool:
    executor = _get_executor()
    probe: Callable[[], bool] = lambda: True  # noqa: E731
    try:
        return executor.submit(probe).result(timeout=2)
    except Exception:
        return False


def wait_inprocess_idle(timeout: float = 30) -> None:
    """Block until submitted in-process tasks finish (management commands, tests)."""
    for future in list(_inflight):
        future.result(timeout=timeout)
