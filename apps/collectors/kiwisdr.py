"""KiwiSDR client: the receiver's own WebSocket protocol, I/Q mode.

ws://host:port/<timestamp>/SND
→ SET auth t=kiwi p=<password>
← MSG audio_rate=12000 ...        (binary frames, tag + space + name=value pairs)
→ SET AR OK in=12000 out=44100
← MSG sample_rate=12001.135
→ SET mod=iq low_cut=-5000 high_cut=5000 freq=<kHz>   SET agc=1 ...   SET compression=0
← SND <flags u8><seq u32 LE><smeter u16 BE><gps 10 bytes><I,Q int16 BE ...>
→ SET keepalive                    (at least every few seconds)
"""

import struct
import time
from urllib.parse import urlparse

import numpy as np

from apps.collectors.base import Chunk, ProtocolError, Source, open_websocket

KEEPALIVE_S = 5.0
CHUNK_SECONDS = 0.25
IQ_GPS_HEADER = 10


def parse_msg(body: bytes) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for pair in body.decode("utf-8", "replace").strip().split(" "):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        params[name] = value if _ else None
    return params


def parse_snd(body: bytes, iq: bool) -> tuple[int, float, np.ndarray]:
    """(sequence, RSSI dBm, samples) of an SND frame body (after the 3-byte tag)."""
    if len(body) < 7:
        raise ProtocolError("short SND frame")
    _flags, sequence = struct.unpack("<BI", body[:5])
    (smeter,) = struct.unpack(">H", body[5:7])
    data = body[7:]
    if iq:
        data = data[IQ_GPS_HEADER:]
        values = np.frombuffer(data[: len(data) // 4 * 4], dtype=">i2").astype(np.float64)
        samples = (values[0::2] + 1j * values[1::2]) / 32768.0
    else:
        samples = np.frombuffer(data[: len(data) // 2 * 2], dtype=">i2") / 32768.0
    return sequence, 0.1 * smeter - 127.0, samples


class KiwiSDRSource(Source):
    def __init__(self, *, url: str, frequency_hz: int, timeout: float, password: str = "",
                 mode: str = "iq") -> None:  # fmt: skip
        parsed = urlparse(url)
        self.endpoint = f"ws://{parsed.hostname}:{parsed.port or 8073}/{int(time.time())}/SND"
        self.frequency_hz = frequency_hz
        self.timeout = timeout
        self.password = password
        self.mode = mode
        self.sample_rate: float | None = None
        self.rssi: float | None = None
        self.ws = None
        self.last_keepalive = 0.0

    async def _set(self, command: str) -> None:
        await self.ws.send(f"SET {command}")

    def _check_errors(self, params: dict) -> None:
        if "too_busy" in params:
            raise ProtocolError(f"all {params['too_busy']} channels are busy")
        if params.get("badp") == "1":
            raise ProtocolError("bad password")
        if "down" in params:
            raise ProtocolError("receiver is down")

    async def open(self) -> None:
        self.ws = await open_websocket(self.endpoint, self.timeout)
        await self._set(f"auth t=kiwi p={self.password}")
        while self.sample_rate is None:
            message = await self.ws.recv()
            if isinstance(message, str):
                message = message.encode()
            if message[:3] != b"MSG":
                continue
            params = parse_msg(message[4:])
            self._check_errors(params)
            if "audio_rate" in params:
                await self._set(f"AR OK in={int(float(params['audio_rate']))} out=44100")
            if "sample_rate" in params:
                self.sample_rate = float(params["sample_rate"])
        low, high = (-5000, 5000) if self.mode == "iq" else (300, 2700)
        await self._set(
            f"mod={self.mode} low_cut={low} high_cut={high} freq={self.frequency_hz / 1000:.3f}"
        )
        await self._set("agc=1 hang=0 thresh=-100 slope=6 decay=1000 manGain=50")
        await self._set("compression=0")
        await self._set("keepalive")
        self.last_keepalive = time.monotonic()

    async def read(self) -> Chunk:
        wanted = int(self.sample_rate * CHUNK_SECONDS)
        parts, count = [], 0
        while count < wanted:
            message = await self.ws.recv()
            if isinstance(message, str):
                message = message.encode()
            tag, body = message[:3], message[3:]
            if tag == b"MSG":
                self._check_errors(parse_msg(body[1:]))
            elif tag == b"SND":
                _, self.rssi, samples = parse_snd(body, iq=self.mode == "iq")
                parts.append(samples)
                count += len(samples)
            if time.monotonic() - self.last_keepalive > KEEPALIVE_S:
                await self._set("keepalive")
                self.last_keepalive = time.monotonic()
        return Chunk(
            samples=np.concatenate(parts),
            sample_rate=self.sample_rate,
            center_frequency=self.frequency_hz,
            signal_level_db=self.rssi,
        )

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
