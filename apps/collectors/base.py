from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

SYSTEM_CLOCK = "system"
GPS_CLOCK = "gps"

# How receiver audio maps back to radio frequencies (Chunk.audio_mode):
UPPER_SIDEBAND = frozenset({"usb", "cw"})  # audio f Hz is dial + f
LOWER_SIDEBAND = frozenset({"lsb"})  # audio f Hz is dial - f
DEMODULATED = frozenset({"am", "sam", "nfm", "nbfm", "wfm", "fm"})  # audio is the modulation


@dataclass
class Chunk:
    """About CHUNK_SECONDS of one receiver's output, as it was tuned when it came.

    `samples` are complex I/Q centred on `center_frequency` (audio_mode None),
    or real demodulated audio (audio_mode names the demodulator; the dial is
    `center_frequency`). `timestamp` is when the first sample was received
    (`clock` "system") or, for GPS-timed KiwiSDR I/Q, when it was sampled at
    the antenna by the receiver's GPS clock (`clock` "gps").
    """

    samples: np.ndarray  # real audio or complex I/Q
    sample_rate: float
    center_frequency: int  # Hz the samples' 0 Hz corresponds to (the dial for audio)
    listeners: int | None = None
    signal_level_db: float | None = None  # the receiver's own S-meter, when it sends one
    injected_anomaly: str | None = None  # simulation only: what was injected
    audio_mode: str | None = None  # None: I/Q baseband; else usb, lsb, cw, am, nfm, wfm...
    passband: tuple[int, int] | None = None  # Hz relative to the dial, for audio modes
    timestamp: datetime | None = None
    clock: str = SYSTEM_CLOCK
    metadata: dict = field(default_factory=dict)  # extra processing_metadata (e.g. GPS age)


class Source:
    """A connected receiver that yields chunks: simulated, kiwisdr, openwebrx, websdr."""

    async def open(self) -> None:  # connect, handshake, tune
        return None

    async def read(self) -> Chunk:
        raise NotImplementedError

    async def close(self) -> None:
        return None


class ProtocolError(Exception):
    """The receiver said something the protocol does not allow (or refused us).

    The message is what the station's status shows: it names the receiver's
    own reason (e.g. "KiwiSDR refused: multiple connections from the same IP
    address are not allowed (badp=5)").
    """


async def open_websocket(endpoint: str, timeout: float, *, origin: str | None = None):
    """A receiver connection: the receiver's own pings are not expected, frames up to 4 MiB."""
    import websockets

    return await websockets.connect(
        endpoint,
        open_timeout=timeout,
        close_timeout=2,
        max_size=2**22,
        ping_interval=None,
        origin=origin,
        user_agent_header="Heimdall spectrum monitor",
    )


def closed_reason(exc: Exception, refusal: str | None = None) -> ProtocolError:
    """A closed WebSocket as a station status: the receiver's last refusal, else the close frame."""
    if refusal:
        return ProtocolError(refusal)
    rcvd = getattr(exc, "rcvd", None)
    if rcvd is not None:
        reason = f", reason {rcvd.reason!r}" if rcvd.reason else ""
        return ProtocolError(f"the receiver closed the connection (code {rcvd.code}{reason})")
    return ProtocolError("the connection to the receiver was lost without a close frame")
