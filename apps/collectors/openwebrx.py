"""OpenWebRX client: the receiver's WebSocket protocol, demodulated audio.

    ws://host:port/ws/
    → SERVER DE CLIENT client=heimdall type=receiver
    ← CLIENT DE SERVER server=openwebrx version=...
    ← {"type": "config", "value": {"center_freq", "samp_rate", "audio_compression", ...}}
    → {"type": "connectionproperties", "params": {"output_rate": 12000, "hd_output_rate": 48000}}
    → {"type": "dspcontrol", "action": "start"}
    → {"type": "dspcontrol", "params": {"mod", "low_cut", "high_cut", "offset_freq", ...}}
    ← binary frames: 1 byte type (1 FFT, 2 audio, 3 secondary FFT, 4 HD audio) + payload;
      audio as int16 little-endian PCM ("none") or IMA ADPCM with sync frames ("adpcm")
    ← {"type": "smeter", "value": <linear power>}

Audio is decoded whether the server sends it uncompressed or (its default)
as IMA ADPCM in sync frames (apps.collectors.adpcm).
"""

import json
import math
from urllib.parse import urlparse

import numpy as np

from apps.collectors.adpcm import SyncedImaAdpcmDecoder
from apps.collectors.base import Chunk, ProtocolError, Source, open_websocket

OUTPUT_RATE = 12_000
CHUNK_SECONDS = 0.25
AUDIO_FRAME = 2


class OpenWebRXSource(Source):
    def __init__(self, *, url: str, frequency_hz: int, timeout: float, mode: str = "usb") -> None:
        parsed = urlparse(url)
        scheme = "wss" if parsed.scheme == "https" else "ws"
        self.endpoint = f"{scheme}://{parsed.hostname}:{parsed.port or 8073}/ws/"
        self.frequency_hz = frequency_hz
        self.timeout = timeout
        self.mode = mode
        self.level_db: float | None = None
        self.listeners: int | None = None
        self.adpcm: SyncedImaAdpcmDecoder | None = None
        self.ws = None

    def _handle_json(self, message: str) -> dict | None:
        try:
            payload = json.loads(message)
        except ValueError:
            return None
        if not isinstance(payload, dict):
            return None
        kind, value = payload.get("type"), payload.get("value")
        if kind == "smeter" and isinstance(value, int | float) and value > 0:
            self.level_db = 10 * math.log10(value)
        elif kind == "clients" and isinstance(value, int):
            self.listeners = value
        return payload

    async def open(self) -> None:
        self.ws = await open_websocket(self.endpoint, self.timeout)
        await self.ws.send("SERVER DE CLIENT client=heimdall type=receiver")
        greeting = await self.ws.recv()
        if not isinstance(greeting, str) or not greeting.startswith("CLIENT DE SERVER"):
            raise ProtocolError(f"unexpected greeting {str(greeting)[:60]!r}")
        config = None
        while config is None:
            message = await self.ws.recv()
            if isinstance(message, str):
                payload = self._handle_json(message)
                if payload and payload.get("type") == "config":
                    config = payload.get("value") or {}
        compression = config.get("audio_compression", "none")
        if compression not in ("none", "adpcm"):
            raise ProtocolError(f"server sends {compression} audio; none and adpcm are decoded")
        self.adpcm = SyncedImaAdpcmDecoder() if compression == "adpcm" else None
        center = int(config.get("center_freq", self.frequency_hz))
        await self.ws.send(json.dumps({"type": "connectionproperties",
                                       "params": {"output_rate": OUTPUT_RATE,
                                                  "hd_output_rate": 48000}}))  # fmt: skip
        await self.ws.send(json.dumps({"type": "dspcontrol", "action": "start"}))
        low, high = (-2700, -300) if self.mode == "lsb" else (300, 2700)
        await self.ws.send(json.dumps({"type": "dspcontrol", "params": {
            "mod": self.mode, "low_cut": low, "high_cut": high,
            "offset_freq": self.frequency_hz - center, "squelch_level": -150}}))  # fmt: skip

    async def read(self) -> Chunk:
        wanted = int(OUTPUT_RATE * CHUNK_SECONDS)
        parts, count = [], 0
        while count < wanted:
            message = await self.ws.recv()
            if isinstance(message, str):
                self._handle_json(message)
                continue
            if not message or message[0] != AUDIO_FRAME:
                continue  # FFT and other frames
            payload = message[1:]
            if self.adpcm is not None:
                samples = self.adpcm.decode(payload) / 32768.0
            else:
                samples = np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2") / 32768.0
            parts.append(samples)
            count += len(samples)
        return Chunk(
            samples=np.concatenate(parts),
            sample_rate=OUTPUT_RATE,
            center_frequency=self.frequency_hz,  # audio 0 Hz is the dial frequency
            listeners=self.listeners,
            signal_level_db=self.level_db,
        )

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
