"""The one way events leave Heimdall for WebSocket clients.

`publish_many([(group, message), ...])` and `publish_lazy(build)` send to
channel-layer groups after the current database transaction commits (never
an event for a rolled-back write), from any thread: request threads,
django-q2 workers, collector threads.

Sends run on one long-lived event loop per process: the channel layer keeps
its Redis connection per loop, and a new loop per send (what `async_to_sync`
does in a plain thread) would open a connection each time. In embedded mode
the server's own loop is used instead: the in-memory layer's queues belong
to it.
"""

import asyncio
import logging
import os
import threading
from collections.abc import Callable

from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_main_loop: asyncio.AbstractEventLoop | None = None
_publisher: tuple[int, asyncio.AbstractEventLoop] | None = None  # (pid, loop)
# Sends handed to the loop and not finished yet: past this, new events are
# dropped rather than queued without bound behind a stalled Redis; every socket is
# told how many batches were dropped (DROPS_GROUP) once a send gets through again.
MAX_BACKLOG = 256
_backlog = threading.BoundedSemaphore(MAX_BACKLOG)
DROPS_GROUP = "heimdall.events-dropped"  # every WebSocket joins it (apps.core.consumers)
_dropped = 0  # batches refused since the sockets were last told (under _lock)


def remember_event_loop() -> None:
    """Called by consumers, in the server's loop."""
    global _main_loop
    with _lock:
        _main_loop = asyncio.get_running_loop()


def _publisher_loop() -> asyncio.AbstractEventLoop:
    global _publisher
    with _lock:
        if _main_loop is not None and _main_loop.is_running():
            return _main_loop
        # Forked workers inherit the variable but not the thread: one loop per pid.
        if _publisher is None or _publisher[0] != os.getpid():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="heimdall-events", daemon=True).start()
            _publisher = (os.getpid(), loop)
        return _publisher[1]


async def _send_all(messages: list[tuple[str, dict]]) -> None:
    layer = get_channel_layer()
    for group, message in messages:
        await layer.group_send(group, message)


Messages = list[tuple[str, dict]]


def send_now(messages: Messages) -> None:
    """Send and wait (used where the caller needs the send done, e.g. status changes)."""
    if not messages or get_channel_layer() is None:
        return
    try:
        loop = _publisher_loop()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:  # already on it (an async caller): don't block it
            loop.create_task(_send_counting_drops(messages))
        else:
            asyncio.run_coroutine_threadsafe(_send_and_tell(messages), loop).result(10)
    except Exception:
        # Live delivery is best effort: the data is stored whatever happens here; the
        # sockets hear of the lost batch with the next send that gets through.
        _count_drop()
        logger.warning("could not publish %d event(s)", len(messages), exc_info=True)


async def _send_and_tell(messages: Messages) -> None:
    await _send_all(messages)
    await _tell_drops()


async def _send_counting_drops(messages: Messages) -> None:
    """`send_now` from a caller on the loop itself: nobody awaits the task, so a failed
    send is counted here — it was lost untold ('Task exception was never retrieved'), the
    sockets never sent `messages_dropped`."""
    try:
        await _send_and_tell(messages)
    except Exception:
        _count_drop()
        logger.warning("could not publish %d event(s)", len(messages), exc_info=True)


def _count_drop() -> None:
    global _dropped
    with _lock:
        _dropped += 1


async def _build_and_send(build: Callable[[], Messages]) -> None:
    try:
        # Building payloads is CPU work: off the loop, which may be the server's.
        messages = await asyncio.get_running_loop().run_in_executor(None, build)
        await _send_all(messages)
    except Exception:
        _count_drop()
        logger.warning("could not publish events", exc_info=True)
    else:
        await _tell_drops()
    finally:
        _backlog.release()


async def _tell_drops() -> None:
    """After a send got through: tell every socket how many event batches were dropped
    since the last notice (each socket sends its client `messages_dropped` with
    `"source": "publisher"`); kept for the next send if this one fails too."""
    global _dropped
    with _lock:
        count, _dropped = _dropped, 0
    if not count:
        return
    try:
        notice = {"type": "events.dropped", "count": count}
        await get_channel_layer().group_send(DROPS_GROUP, notice)
    except Exception:
        with _lock:
            _dropped += count
        logger.warning("could not tell sockets of %d dropped event batch(es)", count)


def send_later(build: Callable[[], Messages]) -> None:
    """Hand `build()`'s messages to the event loop and return at once. Past MAX_BACKLOG
    sends in flight the batch is dropped, counted, and the sockets told later."""
    if get_channel_layer() is None:
        return
    if not _backlog.acquire(blocking=False):
        _count_drop()
        logger.warning("live event backlog full (%d); events dropped", MAX_BACKLOG)
        return
    sending = _build_and_send(build)
    try:
        asyncio.run_coroutine_threadsafe(sending, _publisher_loop())
    except Exception:
        sending.close()  # never started
        _backlog.release()
        _count_drop()  # told to the sockets with the next send that gets through (was lost)
        logger.warning("could not schedule live events", exc_info=True)


def publish_lazy(build: Callable[[], Messages]) -> None:
    """After commit, without making the committing code wait: build and send the messages.

    For bulk events (ingest): payloads are built and sent on the event loop's
    side, so the writer is not slowed by live fan-out.
    """
    transaction.on_commit(lambda: send_later(build), robust=True)


def publish_many(messages: Messages) -> None:
    """Send each (group, message) after commit, all in one hop to the event loop."""
    if messages:
        transaction.on_commit(lambda: send_now(messages), robust=True)
