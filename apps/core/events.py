"""The one way events leave Heimdall for WebSocket clients.

`publish(group, message)` sends to a channel-layer group after the current
database transaction commits (never an event for a rolled-back write), from
any thread: request threads, django-q2 workers, in-process worker threads.
"""

import asyncio
import logging
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

_main_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def remember_event_loop() -> None:
    """Called by consumers (in the server's loop): in-process senders hop onto it.

    The in-memory channel layer's queues belong to that loop; a worker thread
    must not touch them from a loop of its own.
    """
    global _main_loop
    with _loop_lock:
        _main_loop = asyncio.get_running_loop()


def _running_in(loop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def send_now(group: str, message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        loop = _main_loop
        if loop is not None and loop.is_running() and not _running_in(loop):
            asyncio.run_coroutine_threadsafe(layer.group_send(group, message), loop).result(10)
        else:
            async_to_sync(layer.group_send)(group, message)
    except Exception:
        # Live delivery is best effort: the data is stored whatever happens here.
        logger.warning("could not publish to %s", group, exc_info=True)


def publish(group: str, message: dict) -> None:
    """Send `message` (a dict with a `type` naming the consumer handler) after commit."""
    transaction.on_commit(lambda: send_now(group, message))
