"""Task dispatch: one call for every background job, whatever runs it.

`dispatch("apps.x.tasks.do_thing", arg, ...)` enqueues after the current
transaction commits (a worker must see the rows the caller just wrote):

* `django_q` backend: django-q2's `async_task`, picked up by `manage.py qcluster`
  processes (see Procfile); `cluster` names an ALT_CLUSTERS entry.
* `inprocess` backend (embedded mode): a small thread pool inside the web
  process, so events it publishes reach the in-memory channel layer.
"""

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)

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


def _run_inprocess(func_path: str, args: tuple, kwargs: dict) -> None:
    close_old_connections()
    try:
        import_string(func_path)(*args, **kwargs)
    except Exception:
        logger.exception("in-process task %s failed", func_path)
    finally:
        close_old_connections()


def _enqueue(func_path: str, args: tuple, kwargs: dict, cluster: str | None) -> None:
    if settings.HEIMDALL_TASK_BACKEND == "django_q":
        from django_q.tasks import async_task

        options = {"cluster": cluster} if cluster else {}
        async_task(func_path, *args, q_options=options, **kwargs)
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
