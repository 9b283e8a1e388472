"""HeimdallClient: the asynchronous client of seed 004's "SDK and Client Libraries".

client = HeimdallClient(base_url="https://heimdall.example.org", api_key="hmd_...")
client = HeimdallClient(base_url=..., username="ada", password="...")  # logs in itself
detections = await client.signals.get_detections(frequency_range=(14e6, 15e6))
async with client.websocket.connect() as ws: ...
await client.aclose()  # or: async with HeimdallClient(...) as client:
"""

from collections.abc import Callable
from typing import Any

from heimdall_sdk import resources as r
from heimdall_sdk._transport import AsyncTransport
from heimdall_sdk.websocket import TrainingSocket, WebSocketFactory


class HeimdallClient:
    """Every endpoint group of the Heimdall API as attributes.

    Arguments: `base_url`; `api_key` or `username` + `password`; `timeout`
    (seconds per request), `max_retries`, `backoff` (seconds, doubled per
    retry), `max_retry_wait` (cap on a Retry-After), `on_retry(reason, wait_s)`.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 0.5,
        max_retry_wait: float = 60.0,
        on_retry: Callable[[str, float], None] | None = None,
        verify: bool | str = True,
    ) -> None:
        if not api_key and not username:
            raise ValueError("give api_key, or username and password")
        self.transport = AsyncTransport(
            base_url,
            api_key=api_key,
            username=username,
            password=password,
            timeout=timeout,
            max_retries=max_retries,
            backoff=backoff,
            max_retry_wait=max_retry_wait,
            on_retry=on_retry,
            verify=verify,
        )
        t = self.transport
        self.auth = r.Auth(t)
        self.users = r.Users(t)
        self.health = r.Health(t)
        self.stations = r.Stations(t)
        self.signals = r.Signals(t)
        self.anomalies = r.Anomalies(t)
        self.statistics = r.Statistics(t)
        self.constellations = r.Constellations(t)
        self.localizations = r.Localizations(t)
        self.reference_transmitters = r.ReferenceTransmitters(t)
        self.recordings = r.Recordings(t)
        self.models = r.Models(t)
        self.websocket = WebSocketFactory(t)
        self.training = r.Training(t, self._watch)

    def _watch(self, job_id: str | None = None, **options: Any) -> TrainingSocket:
        return self.websocket.training(job_id, **options)

    async def aclose(self) -> None:
        await self.transport.aclose()

    async def __aenter__(self) -> "HeimdallClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
