"""Classic WebSDR client (PA3FWM's websdr.org software): `api_type` "http_streaming".

The protocol as published for interoperability in Guru-RF/VFO-Knob's
WEBSDR-PROTOCOL.md (summarised in its `components/wsdr_proto/include/wsdr_proto.h`;
its `tools/mock_wsdr.py` describes what the servers do), written
independently here: no code of the WebSDR page is used.

What a site serves and the order it speaks in:

    GET /websdr-sound.js     the page's sound script: it opens "/~~stream?v=11" on
                             the distributed servers ("dist11"), "/~~stream" on Twente
    GET /tmp/bandinfo.js     the bands, as JavaScript: `var nbands=N;` and per band
                             `centerfreq`, `samplerate` (its span), `tuningstep`,
                             `maxlinbw` (the widest passband edge), `name`, all in kHz;
                             `var idletimeout=<ms>;`
    ws  /~~stream[?v=11]     one listener (Heimdall sends the site's Origin, as its page does)
    ← binary messages of items (apps.collectors.websdr_audio): the rate, step and
      conversion, then audio blocks at the site's starting frequency, at once
    → GET /~~param?f=<kHz>&band=<index>&lo=<kHz>&hi=<kHz>&mode=<0 SSB/CW, 1 AM, 4 FM>&name=heimdall
      (the sideband is the sign of lo and hi; at most one tuning per 250 ms)
    ← items at the new tuning: audio blocks, S-meter items (0xF_), the rate again when it
      changes (AM and FM past 3.5 kHz double it)

A busy server answers a rate of 0 and closes. The page itself stops after
bandinfo's idletimeout; Heimdall re-sends its tuning every half of it so a
server that closes idle listeners keeps it.

Modes: usb, lsb (mode 0), cw (mode 0: the carrier is sent CW_TONE_HZ above
the station, heard in a -950..-550 Hz passband), am (1), fm (4).
"""

import asyncio
import re
import time
from dataclasses import dataclass

import httpx
import numpy as np

from apps.collectors.base import Chunk, ProtocolError, Source, closed_reason, open_websocket
from apps.collectors.endpoints import page_location, websdr_endpoint, websdr_http
from apps.collectors.websdr_audio import StreamState, decode_message
from apps.core.timeutil import utc_now

CHUNK_SECONDS = 0.25
BANDINFO_PATH = "/tmp/bandinfo.js"  # noqa: S108 - a path on the WebSDR's site, not a file here
RETUNE_SETTLE_S = 0.3  # audio this soon after the tuning may be the site's starting frequency
CW_TONE_HZ = 750
MODE_NUMBERS = {"usb": 0, "lsb": 0, "cw": 0, "am": 1, "fm": 4}
PASSBANDS = {  # Hz relative to the carrier sent
    "usb": (300, 2700),
    "lsb": (-2700, -300),
    "cw": (-950, -550),
    "am": (-4500, 4500),
    "fm": (-6000, 6000),
}
FM_MAX_EDGE_HZ = 15_000
MAX_KEEPALIVE_S = 600.0
FIRST_AUDIO_SHARE = 0.8  # of the timeout: the first rate item must come by then


@dataclass(frozen=True)
class Band:
    index: int
    name: str
    center_khz: float
    span_khz: float
    max_edge_khz: float | None  # maxlinbw

    def covers(self, khz: float) -> bool:
        return abs(khz - self.center_khz) <= self.span_khz / 2


@dataclass(frozen=True)
class SiteInfo:
    bands: tuple[Band, ...]
    idle_timeout_ms: int


_NUMBER = r"(-?[0-9]+(?:\.[0-9]*)?)"


def parse_bandinfo(text: str) -> SiteInfo:
    """The bands and idle timeout of a site's /tmp/bandinfo.js (JavaScript, not JSON)."""
    bands = []
    segments = re.split(r"\bcenterfreq\s*:", text)[1:]
    for index, segment in enumerate(segments):
        center = re.match(r"\s*" + _NUMBER, segment)
        span = re.search(r"\bsamplerate\s*:\s*" + _NUMBER, segment)
        if not center or not span:
            continue
        edge = re.search(r"\bmaxlinbw\s*:\s*" + _NUMBER, segment)
        name = re.search(r"\bname\s*:\s*['\"]([^'\"]*)['\"]", segment)
        bands.append(
            Band(
                index=index,
                name=name.group(1) if name else f"band {index}",
                center_khz=float(center.group(1)),
                span_khz=float(span.group(1)),
                max_edge_khz=float(edge.group(1)) if edge else None,
            )
        )
    idle = re.search(r"\bidletimeout\s*=\s*([0-9]+)", text)
    return SiteInfo(bands=tuple(bands), idle_timeout_ms=int(idle.group(1)) if idle else 0)


def tuning(frequency_hz: int, mode: str, band: Band) -> tuple[float, int, int]:
    """(carrier kHz to send, low Hz, high Hz) for a station's dial frequency and mode."""
    carrier_hz = frequency_hz + (CW_TONE_HZ if mode == "cw" else 0)
    low, high = PASSBANDS[mode]
    limit = FM_MAX_EDGE_HZ if mode == "fm" else None
    if limit is None and band.max_edge_khz:
        limit = int(band.max_edge_khz * 1000 * 0.95)
    if limit is not None:
        low, high = max(low, -limit), min(high, limit)
    return carrier_hz / 1000, low, high


class WebSDRSource(Source):
    def __init__(self, *, url: str, frequency_hz: int, timeout: float, mode: str = "usb") -> None:
        page_location(url)  # a URL a browser cannot open fails here, by name
        self.url = url
        self.frequency_hz = frequency_hz
        self.timeout = timeout
        self.mode = mode
        self.state = StreamState()
        self.site: SiteInfo | None = None
        self.band: Band | None = None
        self.endpoint: str | None = None
        self.carrier_hz: int = frequency_hz
        self.passband: tuple[int, int] = PASSBANDS.get(mode, PASSBANDS["usb"])
        self.tune_command = ""
        self.settle_until = 0.0
        self.last_tune = 0.0
        self.ws = None

    async def _fetch(self, client: httpx.AsyncClient, path: str) -> str | None:
        try:
            response = await client.get(websdr_http(self.url, path))
        except httpx.HTTPError as exc:
            raise ProtocolError(f"WebSDR site unreachable for {path}: {exc}") from exc
        return response.text if response.status_code == 200 else None

    async def _discover(self) -> None:
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=True) as client:
            bandinfo = await self._fetch(client, BANDINFO_PATH)
            if bandinfo is None:
                raise ProtocolError("not a classic WebSDR: /tmp/bandinfo.js is not served")
            script = await self._fetch(client, "/websdr-sound.js") or ""
        self.site = parse_bandinfo(bandinfo)
        if not self.site.bands:
            raise ProtocolError("not a classic WebSDR: /tmp/bandinfo.js lists no band")
        self.endpoint = websdr_endpoint(self.url, v11="~~stream?v=11" in script)

    def _choose_band(self) -> Band:
        khz = (self.frequency_hz + (CW_TONE_HZ if self.mode == "cw" else 0)) / 1000
        for band in self.site.bands:
            if band.covers(khz):
                return band
        spans = "; ".join(
            f"{b.name} {b.center_khz - b.span_khz / 2:.1f}-{b.center_khz + b.span_khz / 2:.1f} kHz"
            for b in self.site.bands
        )
        raise ProtocolError(
            f"this WebSDR does not cover {self.frequency_hz} Hz: its bands are {spans}"
        )

    async def _recv(self):
        from websockets.exceptions import ConnectionClosed

        try:
            return await self.ws.recv()
        except ConnectionClosed as exc:
            busy = "WebSDR refused: too busy right now (sample rate 0)"
            raise closed_reason(exc, busy if self.state.rate == 0 else None) from exc

    async def _send_tuning(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self.ws.send(self.tune_command)
        except ConnectionClosed:
            while True:  # what came before the close (a rate of 0?), then the close itself
                message = await self._recv()
                if isinstance(message, bytes):
                    decode_message(self.state, message)
        self.last_tune = time.monotonic()

    def _keepalive_interval(self) -> float:
        idle = self.site.idle_timeout_ms / 1000 if self.site and self.site.idle_timeout_ms else 0
        return min(MAX_KEEPALIVE_S, idle / 2) if idle else MAX_KEEPALIVE_S

    async def open(self) -> None:
        await self._discover()
        self.band = self._choose_band()
        carrier_khz, low, high = tuning(self.frequency_hz, self.mode, self.band)
        self.carrier_hz, self.passband = round(carrier_khz * 1000), (low, high)
        self.tune_command = (
            f"GET /~~param?f={carrier_khz:.3f}&band={self.band.index}&lo={low / 1000:g}"
            f"&hi={high / 1000:g}&mode={MODE_NUMBERS[self.mode]}&name=heimdall"
        )
        self.ws = await open_websocket(
            self.endpoint, self.timeout, origin=page_location(self.url).http("")
        )
        # The site streams its starting frequency at once: the first rate says it is alive.
        try:
            async with asyncio.timeout(self.timeout * FIRST_AUDIO_SHARE):
                while self.state.rate is None:
                    message = await self._recv()
                    if isinstance(message, bytes):
                        decode_message(self.state, message)
        except TimeoutError:
            raise ProtocolError(
                f"not a classic WebSDR stream: no audio items within "
                f"{self.timeout * FIRST_AUDIO_SHARE:.0f} s"
            ) from None
        if self.state.rate == 0:
            raise ProtocolError("WebSDR refused: too busy right now (sample rate 0)")
        await self._send_tuning()
        self.settle_until = time.monotonic() + RETUNE_SETTLE_S

    async def read(self) -> Chunk:
        parts: list[np.ndarray] = []
        count, started = 0, None
        while not parts or count < int(self.state.rate * CHUNK_SECONDS):
            if time.monotonic() - self.last_tune > self._keepalive_interval():
                await self._send_tuning()
            message = await self._recv()
            if not isinstance(message, bytes):
                continue
            rate_before = self.state.rate
            samples = decode_message(self.state, message)
            if self.state.rate == 0:
                raise ProtocolError("WebSDR refused: too busy right now (sample rate 0)")
            if self.state.rate != rate_before:
                parts, count, started = [], 0, None  # one rate per chunk
            if time.monotonic() < self.settle_until or not len(samples):
                continue
            if started is None:
                started = utc_now()
            parts.append(samples / 32768.0)
            count += len(samples)
        audio_mode = "lsb" if self.mode == "cw" else self.mode
        return Chunk(
            samples=np.concatenate(parts),
            sample_rate=float(self.state.rate),
            center_frequency=self.carrier_hz,
            signal_level_db=self.state.meter_dbm,
            audio_mode=audio_mode,
            passband=self.passband,
            timestamp=started,
        )

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
