"""heimdall_sdk.Client: HeimdallClient's methods, synchronously, for scripts.

    from heimdall_sdk import Client
    with Client("http://localhost:8000", api_key="hmd_...") as client:
        for station in client.stations.list().data: ...
        for detection in client.signals.iter_detections(station_id="twente-nl"): ...
        with client.websocket.connect() as ws:
            ws.subscribe_signals(stations=["twente-nl"])
            for signal in ws.stream(): ...

The asynchronous client runs on an event loop in a thread of its own (so the
synchronous client works inside Jupyter, whose loop is already running).
Every attribute is wrapped: coroutines are awaited on that loop, async
iterators become iterators, async context managers become context managers.
The methods, arguments and results are HeimdallClient's.
"""

import asyncio
import inspect
import threading
from collections.abc import Iterator
from typing import Any

from heimdall_sdk.client import HeimdallClient


class _Loop:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


class _Proxy:
    """Wraps an object of the async client for synchronous use."""

    def __init__(self, target: Any, loop: _Loop) -> None:
        object.__setattr__(self, "_target", target)
        object.__setattr__(self, "_loop", loop)

    def __getattr__(self, name: str) -> Any:
        return _wrap(getattr(self._target, name), self._loop)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._target, name, value)

    def __iter__(self) -> Iterator[Any]:
        aiter = self._target.__aiter__()
        while True:
            try:
                item = self._loop.run(aiter.__anext__())
            except StopAsyncIteration:
                return
            yield _wrap(item, self._loop)

    def __enter__(self) -> "_Proxy":
        entered = self._loop.run(self._target.__aenter__())
        return _wrap(entered, self._loop) if entered is not self._target else self

    def __exit__(self, *exc: Any) -> None:
        self._loop.run(self._target.__aexit__(*exc))

    def __repr__(self) -> str:
        return f"<sync {self._target!r}>"


def _needs_proxy(value: Any) -> bool:
    return (
        hasattr(value, "__aiter__")
        or hasattr(value, "__aenter__")
        or type(value).__module__.startswith("heimdall_sdk.resources")
        or type(value).__module__.startswith("heimdall_sdk.websocket")
    ) and not inspect.isclass(value)


def _wrap(value: Any, loop: _Loop) -> Any:
    if inspect.iscoroutine(value):
        return _wrap(loop.run(value), loop)
    if inspect.isasyncgen(value) or _needs_proxy(value):
        return _Proxy(value, loop)
    if callable(value) and (inspect.ismethod(value) or inspect.isfunction(value)):

        def call(*args: Any, **kwargs: Any) -> Any:
            if inspect.iscoroutinefunction(value):
                return _wrap(loop.run(value(*args, **kwargs)), loop)
            return _wrap(value(*args, **kwargs), loop)

        call.__name__ = value.__name__
        call.__doc__ = value.__doc__
        return call
    return value


class Client(_Proxy):
    """HeimdallClient, synchronous: same constructor, same methods. Close with `close()`
    or use it in a `with` block."""

    def __init__(self, base_url: str, api_key: str | None = None, **options: Any) -> None:
        loop = _Loop()

        async def make() -> HeimdallClient:
            return HeimdallClient(base_url, api_key, **options)

        super().__init__(loop.run(make()), loop)

    def close(self) -> None:
        self._loop.run(self._target.aclose())
        self._loop.stop()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
