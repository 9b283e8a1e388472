from dataclasses import dataclass

import numpy as np


@dataclass
class Chunk:
    samples: np.ndarray  # real audio or complex I/Q
    sample_rate: float
    center_frequency: int  # Hz the samples' 0 Hz corresponds to
    listeners: int | None = None
    signal_level_db: float | None = None  # the receiver's own S-meter, when it sends one
    injected_anomaly: str | None = None  # simulation only: what was injected


class Source:
    """A connected receiver that yields chunks. Implementations: simulated, kiwisdr, openwebrx."""

    async def open(self) -> None:  # connect, handshake, tune
        return None

    async def read(self) -> Chunk:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class ProtocolError(Exception):
    """The receiver said something the protocol does not allow (or refused us)."""


async def open_websocket(endpoint: str, timeout: float):
    """A receiver connection: the receiver's own pings are not expected, frames up to 4 MiB."""
    import websockets

    return await websockets.connect(
        endpoint, open_timeout=timeout, close_timeout=2, max_size=2**22, ping_interval=None
    )
