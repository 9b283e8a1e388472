"""OpenWebRX client: the receiver's WebSocket protocol, demodulated audio.

Written from the server and its own page: jketterl/openwebrx and
luarvique/openwebrx (OpenWebRX+) `owrx/connection.py`
(HandshakeMessageHandler, OpenWebRxReceiverClient), `owrx/dsp.py`
(DspManager: the properties a client may set, HD audio for HdAudio chains),
`owrx/modes.py` (the modes and their bandpasses), `htdocs/openwebrx.js`
(`open_websocket`, `on_ws_opened`, `on_ws_recv`), `htdocs/lib/AudioEngine.js`
(`hd_output_rate`, ADPCM with sync) and `csdr/chain/clientaudio.py`; the ADPCM
sync framing from csdr `src/lib/adpcm.cpp` (apps.collectors.adpcm).

The order a current server speaks in (the handler builds the client, which
writes as it is built, and only then sends the greeting):

    → SERVER DE CLIENT client=heimdall type=receiver
    → {"type": "connectionproperties", "params": {"output_rate", "hd_output_rate"}}
    ← {"type": "receiver_details", ...}
    ← {"type": "config", ...}      global: audio_compression, fft_compression, ... (no center_freq)
    ← {"type": "config", ...}      the SDR keys known so far (often none of the tuning ones)
    ← {"type": "config", ...}      the running SDR profile: center_freq, samp_rate, start_freq,
                                   start_mod, profile_id, sdr_id (later, if the SDR was not running)
    ← dial_frequencies, bookmarks, bands
    ← {"type": "features", ...}  {"type": "modes", ...}  {"type": "profiles", ...}
    ← CLIENT DE SERVER server=openwebrx version=...
    → {"type": "dspcontrol", "action": "start"}
    → {"type": "dspcontrol", "params": {"mod", "low_cut", "high_cut", "offset_freq",
                                        "squelch_level"}}
    ← binary: 1 byte type (1 FFT, 2 audio at output_rate, 3 secondary FFT, 4 HD audio at
      hd_output_rate: WFM) + int16 LE PCM ("none") or IMA ADPCM with sync frames ("adpcm")
    ← {"type": "smeter", "value": <linear power>}, {"type": "clients", "value": n}, config updates
      (a profile change, by any listener, moves center_freq for everyone)

Refusals: `{"type": "backoff", "reason": "Too many clients"}` (or "Client
address banned") then a close; `{"type": "sdr_error", ...}` when no SDR is
available; `{"type": "demodulator_error", ...}`. Older servers (1.x) send the
greeting first; the greeting is accepted wherever it comes.

Tuning: offset_freq is relative to the SDR's current centre, so the collector
re-sends it on every config that moves the centre, drops the audio that was
demodulated around the change, and stops (a station error, then a reconnect)
when the receiver no longer covers the station's frequency.
"""

import asyncio
import json
import math
import time

import numpy as np

from apps.collectors.adpcm import SyncedImaAdpcmDecoder
from apps.collectors.base import Chunk, ProtocolError, Source, closed_reason, open_websocket
from apps.collectors.endpoints import openwebrx_endpoint
from apps.core.timeutil import utc_now

OUTPUT_RATE = 12_000
HD_OUTPUT_RATE = 48_000
CHUNK_SECONDS = 0.25
HANDSHAKE_SHARE = 0.8  # of the timeout: the greeting and the SDR's config must come by then
RETUNE_SETTLE_S = 0.3  # audio received this soon after a retune may predate it
FFT_FRAME, AUDIO_FRAME, SECONDARY_FFT_FRAME, HD_AUDIO_FRAME = 1, 2, 3, 4
AUDIO_RATES = {AUDIO_FRAME: OUTPUT_RATE, HD_AUDIO_FRAME: HD_OUTPUT_RATE}

# owrx/modes.py (jketterl/openwebrx): used when the server's `modes` message has none.
BANDPASSES = {
    "nfm": (-4000, 4000),
    "wfm": (-75000, 75000),
    "am": (-4000, 4000),
    "sam": (-4000, 4000),
    "lsb": (-3000, -300),
    "usb": (300, 3000),
    "cw": (700, 900),
}


class OpenWebRXSource(Source):
    def __init__(self, *, url: str, frequency_hz: int, timeout: float, mode: str = "usb") -> None:
        self.endpoint = openwebrx_endpoint(url)
        self.frequency_hz = frequency_hz
        self.timeout = timeout
        self.mode = mode
        self.level_db: float | None = None
        self.listeners: int | None = None
        self.decoders: dict[int, SyncedImaAdpcmDecoder] = {}
        self.ws = None
        # What the server told us, kept as it told it.
        self.server: dict[str, str] = {}  # the greeting's parameters (server, version)
        self.details: dict = {}
        self.config: dict = {}  # every config message merged (None deletes a key)
        self.features: dict = {}
        self.modes: dict[str, dict] = {}  # by modulation
        self.profiles: list[dict] = []
        self.greeted = False
        self.refusal: str | None = None
        # The tuning actually sent.
        self.tuned_center: int | None = None
        self.offset_hz: int | None = None
        self.passband: tuple[int, int] = BANDPASSES.get(mode, (300, 3000))
        self.settle_until = 0.0
        self.retunes = 0

    # --- what the server says -------------------------------------------------------------

    @property
    def center_freq(self) -> int | None:
        value = self.config.get("center_freq")
        return int(value) if isinstance(value, int | float) else None

    @property
    def samp_rate(self) -> int | None:
        value = self.config.get("samp_rate")
        return int(value) if isinstance(value, int | float) and value > 0 else None

    def _handle_text(self, message: str) -> None:
        if message.startswith("CLIENT DE SERVER"):
            self.greeted = True
            for pair in message[17:].split(" "):
                name, _, value = pair.partition("=")
                if name:
                    self.server[name] = value
            return
        try:
            payload = json.loads(message)
        except ValueError:
            return
        if not isinstance(payload, dict):
            return
        kind, value = payload.get("type"), payload.get("value")
        if kind == "config" and isinstance(value, dict):
            for key, item in value.items():
                if item is None:
                    self.config.pop(key, None)
                else:
                    self.config[key] = item
        elif kind == "receiver_details" and isinstance(value, dict):
            self.details = value
        elif kind == "features" and isinstance(value, dict):
            self.features = value
        elif kind == "modes" and isinstance(value, list):
            self.modes = {
                m["modulation"]: m for m in value if isinstance(m, dict) and "modulation" in m
            }
        elif kind == "profiles" and isinstance(value, list):
            self.profiles = value
        elif kind == "smeter" and isinstance(value, int | float) and value > 0:
            self.level_db = 10 * math.log10(value)
        elif kind == "clients" and isinstance(value, int):
            self.listeners = value
        elif kind == "backoff":
            self.refusal = f"OpenWebRX refused: {payload.get('reason') or 'server busy'} (backoff)"
        elif kind == "sdr_error":
            self.refusal = f"OpenWebRX: {value or 'SDR error'} (sdr_error)"
        elif kind == "demodulator_error":
            self.refusal = f"OpenWebRX demodulator error: {value} (demodulator_error)"

    async def _recv(self):
        from websockets.exceptions import ConnectionClosed

        try:
            return await self.ws.recv()
        except ConnectionClosed as exc:
            raise closed_reason(exc, self.refusal) from exc

    async def _send(self, message: str) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self.ws.send(message)
        except ConnectionClosed:
            # Closed under us: a backoff may be waiting in what was received before the close.
            while True:
                received = await self._recv()  # raises, with the refusal, once drained
                if isinstance(received, str):
                    self._handle_text(received)

    # --- tuning ---------------------------------------------------------------------------

    def _bandpass(self) -> tuple[int, int]:
        offered = self.modes.get(self.mode, {}).get("bandpass")
        if isinstance(offered, dict):
            low, high = offered.get("low_cut"), offered.get("high_cut")
            if isinstance(low, int | float) and isinstance(high, int | float) and low < high:
                return int(low), int(high)
        return BANDPASSES.get(self.mode, (300, 3000))

    def _offset_for(self, center: int) -> int:
        """The offset that puts the station's frequency in the passband; refused when uncovered."""
        offset = self.frequency_hz - center
        span = self.samp_rate
        low, high = self.passband
        if span is not None and not (-span / 2 <= offset + low and offset + high <= span / 2):
            profile = self.config.get("profile_id") or "?"
            raise ProtocolError(
                f"OpenWebRX profile {profile!r} covers {center - span // 2} to {center + span // 2}"
                f" Hz; the station's frequency {self.frequency_hz} Hz"
                f" ({self.mode}, {low}..{high} Hz) is outside it"
            )
        return offset

    async def _tune(self) -> None:
        center = self.center_freq
        self.offset_hz = self._offset_for(center)
        self.tuned_center = center
        await self._send(json.dumps({"type": "dspcontrol", "params": {
            "mod": self.mode, "low_cut": self.passband[0], "high_cut": self.passband[1],
            "offset_freq": self.offset_hz, "squelch_level": -150}}))  # fmt: skip
        self.settle_until = time.monotonic() + RETUNE_SETTLE_S

    async def open(self) -> None:
        self.ws = await open_websocket(self.endpoint, self.timeout)
        await self._send("SERVER DE CLIENT client=heimdall type=receiver")
        await self._send(json.dumps({"type": "connectionproperties",
                                       "params": {"output_rate": OUTPUT_RATE,
                                                  "hd_output_rate": HD_OUTPUT_RATE}}))  # fmt: skip
        try:
            async with asyncio.timeout(self.timeout * HANDSHAKE_SHARE):
                while not (self.greeted and self.center_freq is not None):
                    message = await self._recv()
                    if isinstance(message, str):
                        self._handle_text(message)
                    if self.refusal and "demodulator" not in self.refusal:
                        raise ProtocolError(self.refusal)
        except TimeoutError:
            missing = [
                *(["the CLIENT DE SERVER greeting"] if not self.greeted else []),
                *(["a config with the SDR's center_freq"] if self.center_freq is None else []),
            ]
            waited = self.timeout * HANDSHAKE_SHARE
            raise ProtocolError(
                "not an OpenWebRX receiver, or its SDR is not running: "
                f"{' and '.join(missing)} did not come within {waited:.0f} s"
            ) from None
        if self.modes and self.mode not in self.modes:
            raise ProtocolError(
                f"this OpenWebRX does not offer mode {self.mode!r}; it offers "
                f"{', '.join(sorted(self.modes))}"
            )
        compression = self.config.get("audio_compression", "none")
        if compression not in ("none", "adpcm"):
            raise ProtocolError(f"server sends {compression} audio; none and adpcm are decoded")
        self.passband = self._bandpass()
        await self._send(json.dumps({"type": "dspcontrol", "action": "start"}))
        await self._tune()

    # --- audio ----------------------------------------------------------------------------

    def _decode(self, kind: int, payload: bytes) -> np.ndarray:
        if self.config.get("audio_compression", "none") == "adpcm":
            decoder = self.decoders.setdefault(kind, SyncedImaAdpcmDecoder())
            return decoder.decode(payload) / 32768.0
        return np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2") / 32768.0

    async def read(self) -> Chunk:
        parts: list[np.ndarray] = []
        count, kind, started = 0, None, None
        while kind is None or count < int(AUDIO_RATES[kind] * CHUNK_SECONDS):
            message = await self._recv()
            if isinstance(message, str):
                self._handle_text(message)
                if self.refusal and "demodulator" not in self.refusal:
                    raise ProtocolError(self.refusal)
                if self.center_freq is not None and self.center_freq != self.tuned_center:
                    # A profile change (or a centre move): everything demodulated since is at
                    # the old offset from the new centre -- not the station's frequency.
                    await self._tune()
                    self.retunes += 1
                    parts, count, kind, started = [], 0, None, None
                continue
            if not message or message[0] not in AUDIO_RATES:
                continue  # FFT and other frames
            samples = self._decode(message[0], message[1:])
            if time.monotonic() < self.settle_until:
                continue  # may still be the old tuning's audio
            if kind is not None and message[0] != kind:
                parts, count, started = [], 0, None  # the demodulator switched outputs
            if started is None:
                started = utc_now()
            kind = message[0]
            parts.append(samples)
            count += len(samples)
        return Chunk(
            samples=np.concatenate(parts),
            sample_rate=AUDIO_RATES[kind],
            center_frequency=self.tuned_center + self.offset_hz,  # the dial actually tuned
            listeners=self.listeners,
            signal_level_db=self.level_db,
            audio_mode=self.mode,
            passband=self.passband,
            timestamp=started,
        )

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
