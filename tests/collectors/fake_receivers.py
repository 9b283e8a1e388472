"""Local fake receivers that speak the KiwiSDR, OpenWebRX and classic WebSDR protocols.

Each follows its real server's message order (docs/collectors.md lists them
with their sources): the fakes are what the protocol clients are tested
against, so they are written from the servers, not from the clients.

A fake simulates one transmitter at `transmitter_hz`; what a client hears of
it depends on how the client tuned, as on a real receiver.
"""

import asyncio
import json
import math
import struct
from http import HTTPStatus
from urllib.parse import parse_qs

import numpy as np
import websockets

SAMPLE_RATE = 12_000


def tone(offset_hz: float, n: int, start: int, complex_: bool, rate: float = SAMPLE_RATE,
         amplitude: float = 0.3) -> np.ndarray:  # fmt: skip
    t = (np.arange(n) + start) / rate
    rng = np.random.default_rng(start)
    if complex_:
        noise = 0.001 * (rng.standard_normal(n) + 1j * rng.standard_normal(n))
        return amplitude * np.exp(2j * np.pi * offset_hz * t) + noise
    return amplitude * np.sin(2 * np.pi * offset_hz * t) + 0.001 * rng.standard_normal(n)


async def serve(handler, process_request=None):
    server = await websockets.serve(
        handler, "127.0.0.1", 0, close_timeout=0.5, process_request=process_request
    )
    port = server.sockets[0].getsockname()[1]
    return server, port


# --------------------------------------------------------------------------------- KiwiSDR


class FakeKiwi:
    """KiwiSDR (jks-prv/Beagle_SDR_GPS rx/rx_server.cpp, rx/rx_cmd.cpp, rx/rx_sound.cpp).

    Order: a connect-time refusal (`refuse_at_connect`, e.g. b"MSG too_busy=4") then
    close; else MSG sample_rate at once (the sound task starts with the connection);
    then, on SET auth: rx_chans, chan_no_pwd, chan_no_pwd_true, [is_local], max_camp,
    badp=N. badp 5 closes the connection (conn->kick), other refusals leave it open
    and silent, as the server does until its keepalive timer ends it. Accepted:
    version (with freq_offset), load_cfg, center_freq/bandwidth, audio_init
    audio_rate; SND frames once AR OK, mod, agc and compression came.
    """

    def __init__(self, offset_hz=1000.0, badp=0, refuse_at_connect: bytes | None = None,
                 gps: tuple[int, int, int] | None = None, freq_offset_khz=0.0,
                 later: bytes | None = None, mode_iq_flag=True) -> None:  # fmt: skip
        self.offset_hz = offset_hz
        self.badp = badp
        self.refuse_at_connect = refuse_at_connect
        self.gps = gps  # (last_gps_solution, gpssec, gpsnsec) of the first frame
        self.freq_offset_khz = freq_offset_khz
        self.later = later  # a MSG sent after the 8th SND frame, then close
        self.mode_iq_flag = mode_iq_flag
        self.commands: list[str] = []
        self.paths: list[str] = []

    async def handler(self, ws):
        self.paths.append(ws.request.path)
        if self.refuse_at_connect is not None:
            await ws.send(self.refuse_at_connect)
            return
        await ws.send(b"MSG sample_rate=12000.000")
        auth = await ws.recv()
        self.commands.append(auth)
        await ws.send(b"MSG rx_chans=4")
        await ws.send(b"MSG chan_no_pwd=0")
        await ws.send(b"MSG chan_no_pwd_true=0")
        if self.badp == 0:
            await ws.send(b"MSG is_local=0,0,0")
        await ws.send(b"MSG max_camp=4")
        await ws.send(f"MSG badp={self.badp}".encode())
        if self.badp == 5:
            return  # conn->kick: closed
        if self.badp:
            await asyncio.Future()  # left open, silent: the password prompt's wait
        await ws.send(
            f"MSG version_maj=1 version_min=710 debian_ver=11 model=2 platform=0 ext_clk=0 "
            f"abyy=b24 freq_offset={self.freq_offset_khz:.3f}".encode()
        )
        await ws.send(b"MSG load_cfg=%7B%22rx_gps%22%3A%22(52.2%2C%206.8)%22%7D")
        await ws.send(b"MSG center_freq=15000000 bandwidth=30000000 adc_clk_nom=66666600")
        await ws.send(b"MSG audio_init=0 audio_rate=12000")
        required = ("SET AR OK", "SET mod=", "SET agc=", "SET compression=")
        while not all(any(c.startswith(r) for c in self.commands) for r in required):
            self.commands.append(await ws.recv())
        sequence, position = 0, 0
        gpssec = self.gps[1] if self.gps else 0
        gpsnsec = self.gps[2] if self.gps else 0
        while True:
            samples = tone(self.offset_hz, 512, position, complex_=True)
            position += 512
            interleaved = np.empty(1024, dtype=">i2")
            interleaved[0::2] = np.round(samples.real * 32767)
            interleaved[1::2] = np.round(samples.imag * 32767)
            flags = 0x08 if self.mode_iq_flag else 0
            header = b"SND" + struct.pack("<BI", flags, sequence) + struct.pack(">H", 470)
            last = self.gps[0] if self.gps else 0
            gps = struct.pack("<BBII", last, 0, gpssec, gpsnsec)
            await ws.send(header + gps + interleaved.tobytes())
            # The next frame's first sample, 512 samples later at 12 kHz.
            gpsnsec += round(512 / 12_000 * 1e9)
            gpssec, gpsnsec = gpssec + gpsnsec // 1_000_000_000, gpsnsec % 1_000_000_000
            sequence += 1
            if self.later is not None and sequence == 8:
                await ws.send(self.later)
                return
            await asyncio.sleep(0.005)


# ------------------------------------------------------------------------------- OpenWebRX

GLOBAL_CONFIG = {
    "waterfall_scheme": "GoogleTurboWaterfall",
    "fft_size": 4096,
    "audio_compression": "adpcm",
    "fft_compression": "adpcm",
    "max_clients": 20,
    "tuning_precision": 2,
}
MODES = [  # as owrx/connection.py write_modes sends luarvique/openwebrx owrx/modes.py's
    {"modulation": "nfm", "name": "FM", "type": "analog", "requirements": [], "squelch": True,
     "bandpass": {"low_cut": -4000, "high_cut": 4000}},
    {"modulation": "wfm", "name": "WFM", "type": "analog", "requirements": [], "squelch": True,
     "bandpass": {"low_cut": -75000, "high_cut": 75000}},
    {"modulation": "am", "name": "AM", "type": "analog", "requirements": [], "squelch": True,
     "bandpass": {"low_cut": -4000, "high_cut": 4000}},
    {"modulation": "lsb", "name": "LSB", "type": "analog", "requirements": [], "squelch": True,
     "bandpass": {"low_cut": -2750, "high_cut": -150}},
    {"modulation": "usb", "name": "USB", "type": "analog", "requirements": [], "squelch": True,
     "bandpass": {"low_cut": 150, "high_cut": 2750}},
    {"modulation": "cw", "name": "CW", "type": "analog", "requirements": [], "squelch": True,
     "bandpass": {"low_cut": 700, "high_cut": 900}},
]  # fmt: skip
HF_PROFILE = {
    "center_freq": 14_200_000, "samp_rate": 2_400_000, "start_freq": 14_070_000,
    "start_mod": "usb", "sdr_id": "rtlsdr", "profile_id": "20m",
}  # fmt: skip


class FakeOpenWebRX:
    """OpenWebRX (jketterl/openwebrx and luarvique/openwebrx owrx/connection.py, owrx/dsp.py).

    Order (HandshakeMessageHandler builds OpenWebRxReceiverClient, whose constructor
    writes, before it sends the greeting): receiver_details; the global config (no
    center_freq); the SDR keys known before the SDR layer (none of the tuning ones);
    the running SDR's config (center_freq, samp_rate, start_freq, ...) with
    dial_frequencies, bookmarks, bands; features; modes; profiles; then
    CLIENT DE SERVER. With `sdr_starting`, the SDR's config comes only after the
    greeting (an SDR that was not running yet). With `busy`: receiver_details,
    backoff, close. Audio: type 2 at output_rate, or type 4 at hd_output_rate for
    wfm (an HdAudio chain), demodulated from a transmitter at `transmitter_hz` as
    the client tuned (offset_freq from the *current* centre).
    """

    def __init__(self, transmitter_hz=14_231_500, compression="adpcm", busy=False,
                 sdr_starting=False, profile=None, change_profile_to=None, modes=MODES,
                 frames_before_change=30) -> None:  # fmt: skip
        self.transmitters = (
            list(transmitter_hz) if isinstance(transmitter_hz, list | tuple) else [transmitter_hz]
        )
        self.compression = compression
        self.busy = busy
        self.sdr_starting = sdr_starting
        self.profile = dict(profile or HF_PROFILE)
        self.change_profile_to = change_profile_to
        self.modes = modes
        self.frames_before_change = frames_before_change
        self.received: list = []
        self.dsp: dict = {"mod": "nfm", "offset_freq": 0, "low_cut": -4000, "high_cut": 4000}
        self.properties = {"output_rate": 12_000, "hd_output_rate": 48_000}
        self.started = False
        self.sent_order: list[str] = []

    async def _json(self, ws, kind, value, **extra):
        self.sent_order.append(kind)
        await ws.send(json.dumps({"type": kind, "value": value, **extra}))

    async def _listen(self, ws):
        async for message in ws:
            if not isinstance(message, str) or message.startswith("SERVER DE CLIENT"):
                continue
            payload = json.loads(message)
            self.received.append(payload)
            if payload.get("type") == "connectionproperties":
                self.properties.update(payload["params"])
            elif payload.get("type") == "dspcontrol":
                if payload.get("action") == "start":
                    self.started = True
                self.dsp.update(payload.get("params", {}))

    def _audio(self, position: int, n: int) -> np.ndarray:
        mod, rate = self.dsp["mod"], self._rate()
        dial = self.profile["center_freq"] + self.dsp["offset_freq"]
        out = 0.002 * np.random.default_rng(position).standard_normal(n)  # the band's noise
        for transmitter in self.transmitters:
            heard = transmitter - dial
            if not self.dsp["low_cut"] <= heard <= self.dsp["high_cut"]:
                continue
            if mod in ("usb", "cw", "lsb"):
                out += tone(abs(heard), n, position, complex_=False, rate=rate)
            elif mod in ("am", "nfm", "wfm"):
                out += tone(1000, n, position, complex_=False, rate=rate)  # the programme
        return out

    def _rate(self) -> int:
        hd = self.dsp["mod"] == "wfm"
        return self.properties["hd_output_rate" if hd else "output_rate"]

    async def handler(self, ws):
        hello = await ws.recv()
        self.received.append(hello)
        if not hello.startswith("SERVER DE CLIENT"):
            return
        listener = asyncio.create_task(self._listen(ws))
        try:
            await self._json(ws, "receiver_details", {"receiver_name": "fake", "locator": "JO22"})
            if self.busy:
                self.sent_order.append("backoff")
                await ws.send(json.dumps({"type": "backoff", "reason": "Too many clients"}))
                return
            await self._json(ws, "config", GLOBAL_CONFIG | {"audio_compression": self.compression})
            await self._json(ws, "config", {"waterfall_levels": {"min": -88, "max": -20}})
            if not self.sdr_starting:
                await self._send_profile(ws)
            await self._json(ws, "features", {"digital_voice_digiham": False})
            await self._json(ws, "modes", self.modes)
            await self._json(ws, "profiles", [
                {"id": "rtlsdr|20m", "name": "RTL-SDR 20m"},
                {"id": "rtlsdr|2m", "name": "RTL-SDR 2m"},
            ])  # fmt: skip
            self.sent_order.append("CLIENT DE SERVER")
            await ws.send("CLIENT DE SERVER server=openwebrx version=v1.2.2")
            if self.sdr_starting:
                await asyncio.sleep(0.05)
                await self._send_profile(ws)
            await self._json(ws, "clients", 7)
            await self._json(ws, "smeter", 1e-7)
            await self._stream(ws)
        finally:
            listener.cancel()

    async def _send_profile(self, ws):
        start_offset = self.profile["start_freq"] - self.profile["center_freq"]
        await self._json(ws, "config", self.profile | {"start_offset_freq": start_offset})
        await self._json(ws, "dial_frequencies", [])
        await self._json(ws, "bookmarks", [])

    async def _stream(self, ws):
        encoders = {2: SyncedImaAdpcmEncoder(), 4: SyncedImaAdpcmEncoder()}
        position, frames = 0, 0
        while True:
            await ws.send(bytes([1]) + bytes(2048))  # an FFT frame, to be ignored
            if not self.started:
                await asyncio.sleep(0.01)
                continue
            frames += 1
            if self.change_profile_to is not None and frames == self.frames_before_change:
                self.profile.update(self.change_profile_to)  # another listener's choice
                changed = dict(self.change_profile_to)
                if "center_freq" in changed and "start_freq" in self.profile:
                    changed["start_offset_freq"] = (
                        self.profile["start_freq"] - self.profile["center_freq"]
                    )
                await self._json(ws, "config", changed)
            n = self._rate() // 12
            kind = 4 if self.dsp["mod"] == "wfm" else 2
            samples = np.round(np.clip(self._audio(position, n), -1, 1) * 32767)
            position += n
            await asyncio.sleep(0.01)  # a real receiver paces audio in real time
            if self.compression == "adpcm":
                payload = encoders[kind].encode(samples)
                for cut in range(0, len(payload), 300):  # frames cut across sync boundaries
                    await ws.send(bytes([kind]) + payload[cut : cut + 300])
            else:
                await ws.send(bytes([kind]) + samples.astype("<i2").tobytes())


class SyncedImaAdpcmEncoder:
    """csdr's AdpcmEncoder(sync=True) (src/lib/adpcm.cpp): "SYNC" + state, then every 1001 bytes."""

    def __init__(self):
        self.index = 0
        self.predictor = 0
        self.sync_counter = 0  # csdr: a sync frame before the first byte

    def _code(self, sample: int) -> int:
        from apps.collectors.adpcm import STEP_TABLE, decode_nibble

        step = STEP_TABLE[self.index]
        delta = sample - self.predictor
        code = 0
        if delta < 0:
            code, delta = 8, -delta
        if delta >= step:
            code, delta = code | 4, delta - step
        if delta >= step >> 1:
            code, delta = code | 2, delta - (step >> 1)
        if delta >= step >> 2:
            code |= 1
        _, self.index, self.predictor = decode_nibble(code, self.index, self.predictor)
        return code

    def encode(self, samples: np.ndarray) -> bytes:
        out = bytearray()
        values = samples.astype(np.int16).tolist()
        for i in range(0, len(values) - 1, 2):
            if self.sync_counter <= 0:  # csdr: `if (sync && syncCounter-- <= 0)`
                out += b"SYNC" + struct.pack("<hh", self.index, self.predictor)
                self.sync_counter = 1000
            else:
                self.sync_counter -= 1
            low, high = self._code(values[i]), self._code(values[i + 1])
            out.append(low | (high << 4))
        return bytes(out)


# ---------------------------------------------------------------------- classic WebSDR

TWENTE_BANDINFO = """var nbands=1;
var ini_freq=-1.000000;
var ini_mode='';
var chseq=2;
var bandinfo= [
  { centerfreq: 14579.800000,
    samplerate: 29159.600000,
    tuningstep: 0.006952,
    maxlinbw: 7.119043,
    vfo: 14589.800000,
    maxzoom: 2,
    name: 'hf',
    scaleimgs: [
      ["tmp/1779402868-b0z0i0.png"],
      ["tmp/1779402868-b0z1i0.png","tmp/1779402868-b0z1i1.png"]
    ]
  }];
var freqbands=[];
freqbands.push( { min:14000.000000, max:14350.000000 } )
var dxinfoavailable=0;
var labelsavailable=0;
var idletimeout=0;
"""

MAASBREE_BANDINFO = """var nbands=2;
var ini_freq=3630.000000;
var ini_mode='lsb';
var bandinfo= [
  { centerfreq: 3660.000000,
    samplerate: 384.000000,
    tuningstep: 0.031250,
    maxlinbw: 8.000000,
    vfo: 3670.000000,
    maxzoom: 3,
    name: '80m',
    scaleimgs: [ ["tmp/x.png"] ]
  },
  { centerfreq: 7100.000000,
    samplerate: 384.000000,
    tuningstep: 0.031250,
    maxlinbw: 8.000000,
    vfo: 7110.000000,
    maxzoom: 3,
    name: '40m',
    scaleimgs: [ ["tmp/y.png"] ]
  }];
var dxinfoavailable=0;
var idletimeout=14400000;
"""


def alaw_to_linear(code: int) -> int:
    """ITU-T G.711 A-law (the fake's own copy, for its encoder)."""
    a = code ^ 0x55
    seg = (a >> 4) & 7
    t = (a & 0x0F) << 4
    t = t + 8 if seg == 0 else (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


ALAW_VALUES = np.array([alaw_to_linear(c) for c in range(256)])


def _half(v: int) -> int:
    return -((-v) // 2) if v < 0 else v // 2


def _i32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v


class CodedBlockEncoder:
    """The server side of the WebSDR's coded blocks, from the published format
    (Guru-RF/VFO-Knob WEBSDR-PROTOCOL.md §3): residuals of a 20-tap adaptive
    predictor, coded as unary quotient, mantissa and sign. The predictor is the
    decoder's, mirrored, so the encoder knows what a decoder will hear."""

    SHRINK = (999, 999, 8, 4, 2, 1, 99, 99)

    def __init__(self, step=40, conv=0x10):
        self.step, self.conv = step, conv
        self.taps, self.hist2, self.integ = [0] * 20, [0] * 20, 0
        self.width = None

    def forget(self):
        self.taps, self.hist2, self.integ = [0] * 20, [0] * 20, 0

    def _predict(self) -> int:
        p = _i32(_half(sum(t * h for t, h in zip(self.taps, self.hist2, strict=True))))
        return (p if p >= 0 else p + 4095) >> 12

    def _apply(self, pred: int, res: int) -> int:
        corr2 = 2 * res * self.step + self.step
        adapt = _i32(_half(corr2)) >> 4
        sh = 12 if self.conv & 0x10 else 14
        for i in range(19, -1, -1):
            self.taps[i] = _i32(
                self.taps[i] - (self.taps[i] >> 7) + (_i32(_half(self.hist2[i] * adapt)) >> sh)
            )
            if i:
                self.hist2[i] = self.hist2[i - 1]
        self.hist2[0] = 2 * pred + corr2
        j4 = _i32(self.integ) >> 4
        out = _half(self.hist2[0] + 2 * j4)
        if self.conv & 0x10:
            self.integ = 0
        else:
            self.integ += _i32((_i32(_half(self.hist2[0])) << 4) & 0xFFFFFFFF) >> 3
        return ((out + 0x8000) & 0xFFFF) - 0x8000

    def _bits(self, res: int, w: int) -> tuple[list[int], int]:
        neg = res < 0
        mag = ~res if neg else res
        q = mag >> (w - 1)
        q = min(q, 255)
        sh = min((q >= self.SHRINK[w]) + (q >= self.SHRINK[w - 1]), w - 1)
        mant = (mag & ((1 << (w - 1)) - 1)) >> sh if w > 1 else 0
        lim = 15 - w
        bits = [0] * q + [1] if q < lim else [0] * lim + [(q >> k) & 1 for k in range(7, -1, -1)]
        bits += [(mant >> k) & 1 for k in range(w - 2 - sh, -1, -1)]
        bits.append(1 if neg else 0)
        got = (q << (w - 1)) + (mant << sh)
        return bits, (~(got | ((1 << sh) - 1)) if neg else got)

    def block(self, samples: list[int], width: int) -> bytes:
        """128 samples as a coded block at `width` (1-5)."""
        bits: list[int] = []
        for x in samples:
            pred = self._predict()
            j4 = _i32(self.integ) >> 4
            target = x - j4 - pred
            r = math.floor((target - self.step / 2) / self.step + 0.5)
            b, res = self._bits(r, width)
            bits += b
            self._apply(pred, res)
        if width != self.width:
            head = [((((6 - width) << 4) ^ 0x80) >> k) & 1 for k in range(7, 3, -1)]
            self.width = width
        else:
            head = [0]
        allbits = head + bits
        allbits += [0] * (-len(allbits) % 8)
        return bytes(
            int("".join(map(str, allbits[i : i + 8])), 2) for i in range(0, len(allbits), 8)
        )


class FakeWebSDR:
    """A classic WebSDR site (PA3FWM's server as Guru-RF/VFO-Knob's WEBSDR-PROTOCOL.md and
    tools/mock_wsdr.py describe it): /tmp/bandinfo.js, /websdr-sound.js, and the
    /~~stream WebSocket.

    Order: on upgrade, at once, the rate (0x81), step (0x82) and conversion (0x83)
    items and audio blocks at the site's starting frequency; the listener's
    "GET /~~param?f=...&band=...&lo=...&hi=...&mode=...&name=..." retunes it; an
    S-meter item every 8 blocks. Busy (`max_users` 0): rate 0, then close.
    """

    def __init__(self, site="twente", transmitter_hz=14_075_500, busy=False, alaw=False,
                 width=4) -> None:  # fmt: skip
        self.site = site
        self.transmitter_hz = transmitter_hz
        self.busy = busy
        self.alaw = alaw
        self.width = width
        self.bandinfo = TWENTE_BANDINFO if site == "twente" else MAASBREE_BANDINFO
        self.rate = 7119 if site == "twente" else 8000
        self.path = "/~~stream" if site == "twente" else "/~~stream?v=11"
        self.commands: list[str] = []
        self.paths: list[str] = []
        self.origins: list[str | None] = []
        self.http_gets: list[str] = []
        self.tuning = {"f": 14589.8 if site == "twente" else 3630.0, "lo": 0.3, "hi": 2.7,
                       "mode": 0, "band": 0}  # fmt: skip

    def process_request(self, connection, request):
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if request.path.split("?")[0] != "/~~stream":
                return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
            return None
        self.http_gets.append(request.path)
        if request.path == "/tmp/bandinfo.js":
            return connection.respond(HTTPStatus.OK, self.bandinfo)
        if request.path == "/websdr-sound.js":
            opens = f'new WebSocket("ws://"+window.location.host+"{self.path}")'
            return connection.respond(HTTPStatus.OK, f"function soundinit(){{ ws={opens}; }}\n")
        return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")

    def _audio(self, position: int, n: int) -> tuple[list[int], float]:
        f_khz, lo, hi, mode = (self.tuning[k] for k in ("f", "lo", "hi", "mode"))
        offset = self.transmitter_hz - f_khz * 1000
        rate = self._rate()
        if mode == 0 and lo * 1000 <= offset <= hi * 1000:
            pitch, dbm = abs(offset), -73.0
        elif mode in (1, 4) and abs(offset) <= max(abs(lo), abs(hi)) * 1000:
            pitch, dbm = 1000.0, -73.0
        else:
            pitch, dbm = 0.0, -121.0
        t = (np.arange(n) + position) / rate
        noise = np.random.default_rng(position).normal(0, 30, n)
        x = (6000 * np.sin(2 * np.pi * pitch * t) if pitch else 0) + noise
        return [int(v) for v in np.clip(np.round(x), -32768, 32767)], dbm

    def _rate(self) -> int:
        wide = max(abs(self.tuning["lo"]), abs(self.tuning["hi"])) > 3.5
        return 2 * self.rate if wide else self.rate

    async def _listen(self, ws):
        async for message in ws:
            if not isinstance(message, str):
                continue
            self.commands.append(message)
            if message.startswith("GET /~~param?"):
                params = {k: v[-1] for k, v in parse_qs(message[13:]).items()}
                for key in ("f", "lo", "hi"):
                    if key in params:
                        self.tuning[key] = float(params[key])
                for key in ("mode", "band"):
                    if key in params:
                        self.tuning[key] = int(params[key])

    async def handler(self, ws):
        self.paths.append(ws.request.path)
        self.origins.append(ws.request.headers.get("Origin"))
        if self.busy:
            await ws.send(bytes([0x81, 0, 0]))
            await asyncio.sleep(0.05)
            return
        listener = asyncio.create_task(self._listen(ws))
        encoder = CodedBlockEncoder(step=40, conv=0x10)
        told_rate, position, blocks = None, 0, 0
        try:
            while True:
                rate = self._rate()
                message = bytearray()
                if rate != told_rate:
                    message += bytes([0x81, rate >> 8, rate & 255, 0x82, 0, 40, 0x83, 0x10])
                    told_rate = rate
                samples, dbm = self._audio(position, 128)
                position += 128
                if blocks % 8 == 0:
                    v = max(0, min(4095, round((dbm + 127) * 10)))
                    message += bytes([0xF0 | v >> 8, v & 255])
                if self.alaw:
                    codes = [int(np.argmin(np.abs(ALAW_VALUES - x))) for x in samples]
                    message += bytes([0x80, *codes])
                else:
                    message += encoder.block(samples, self.width)
                blocks += 1
                await ws.send(bytes(message))
                await asyncio.sleep(128 / rate / 4)  # faster than real time: a short test
        finally:
            listener.cancel()
