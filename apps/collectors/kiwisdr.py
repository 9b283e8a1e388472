"""KiwiSDR client: the receiver's own WebSocket protocol, I/Q (default) or audio modes.

Written from jks-prv/Beagle_SDR_GPS (`rx/rx_server.cpp` connection set-up
and its refusals, `rx/rx_cmd.cpp` auth and the `badp` codes of `rx/rx_cmd.h`,
`rx/rx_sound.cpp` and `rx/rx_sound.h` for the SND frames, `support/stats.cpp`
for the time limits, `web/kiwi/kiwi.js` `kiwi_msg()` for what each message
means to a listener) and jks-prv/kiwiclient (`kiwi/client.py`: the client
side of the same: auth, `SET AR OK`, `set_mod` with the baseband frequency,
keepalives, the refusal errors, `_process_aud`).

The order a KiwiSDR speaks in, and what Heimdall sends:

    ws://host:port/<timestamp>/SND        (the non-browser "krec" form)
    ← MSG too_busy=N | MSG reason_disabled=... down=N | MSG redirect=URL |
      MSG exclusive_use | MSG wb_only                 (a refusal at connect, then close)
    ← MSG sample_rate=12001.135                       (the sound task starts at once)
    → SET auth t=kiwi p=<password>
    ← MSG rx_chans=N, chan_no_pwd=N, chan_no_pwd_true=N, [is_local=...], max_camp=N,
      badp=N                                          (0 accepted; 1-7 refused, below)
    ← MSG version_maj=1 version_min=... freq_offset=<kHz> ...   load_cfg ...
    ← MSG center_freq=... bandwidth=...   MSG audio_init=0 audio_rate=12000
    → SET AR OK in=12000 out=44100
    → SET mod=iq low_cut=-5000 high_cut=5000 freq=<kHz, less freq_offset>
    → SET agc=1 hang=0 thresh=-100 slope=6 decay=1000 manGain=50
    → SET compression=0    SET ident_user=heimdall    SET keepalive (then every few s)
    ← SND <flags u8><seq u32 LE><S-meter u16 BE>
          I/Q mode: <last_gps_solution u8><dummy u8><gpssec u32 LE><gpsnsec u32 LE>
          then int16 samples, big-endian (little-endian when flags & 0x80)
    ← later refusals: MSG inactivity_timeout=M, MSG ip_limit=M,ip, MSG kiwi_kick=k,msg,
      MSG password_timeout, MSG down=N (then close)

GPS time: `gpssec` is GPS seconds of the week and `gpsnsec` the fraction, of
the frame's first sample at the antenna (`rx/rx_sound.cpp` corrects for the
FIR and AGC delays). `last_gps_solution` is 0 on the first frame and when
the admin withholds timestamps (all three fields then 0), 255 when the GPS
never had a solution, else the seconds since the last position solution
(capped at 252). A frame's time is used when a solution is at most
GPS_MAX_SOLUTION_AGE_S old; UTC = GPS epoch + week + seconds - leap seconds.
"""

import asyncio
import struct
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import numpy as np

from apps.collectors.base import (
    GPS_CLOCK,
    SYSTEM_CLOCK,
    Chunk,
    ProtocolError,
    Source,
    closed_reason,
    open_websocket,
)
from apps.collectors.endpoints import kiwisdr_endpoint
from apps.core.timeutil import utc_now

KEEPALIVE_S = 5.0
CHUNK_SECONDS = 0.25
HANDSHAKE_SHARE = 0.8  # of the timeout: accepted and rates known by then
IQ_GPS_HEADER = 10
SND_FLAG_MODE_IQ = 0x08
SND_FLAG_COMPRESSED = 0x10
SND_FLAG_LITTLE_ENDIAN = 0x80
GPS_EPOCH = datetime(1980, 1, 6, tzinfo=UTC)
GPS_WEEK_S = 7 * 24 * 3600
GPS_UTC_LEAP_SECONDS = 18  # GPS - UTC since 2017-01-01 (no leap second announced since)
GPS_MAX_SOLUTION_AGE_S = 60
GPS_SANITY_S = 60  # a GPS time this far from the arrival time is not believed

# kiwiclient's default passbands (kiwi/client.py) for the modes Heimdall receives.
PASSBANDS = {
    "iq": (-5000, 5000),
    "usb": (300, 2700),
    "lsb": (-2700, -300),
    "cw": (300, 700),
    "am": (-4900, 4900),
    "nbfm": (-6000, 6000),
}

# rx/rx_cmd.h BADP_*; wording from web/kiwi/kiwi.js kiwi_valpwd1_cb and kiwiclient.
BADP = {
    1: "bad password, or all channels that need no password are busy",
    2: "still determining its local interface address; try again in a few moments",
    3: "connection not allowed from this IP address",
    4: "no admin password set; only connections from its local network",
    5: "multiple connections from the same IP address are not allowed",
    6: "database update in progress; try again after one minute",
    7: "another admin connection is already open",
}
DOWN = {
    "1": "software update in progress",
    "2": "backup in progress",
}


def parse_msg(body: bytes) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for pair in body.decode("utf-8", "replace").strip().split(" "):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        params[name] = value if _ else None
    return params


def refusal(params: dict[str, str | None]) -> str | None:
    """The station status for a refusal among a MSG's parameters, else None."""

    def said(text: str, key: str) -> str:
        return f"KiwiSDR refused: {text} ({key})"

    if params.get("badp") not in (None, "0"):
        code = params["badp"]
        meaning = BADP.get(int(code) if code.isdigit() else -1, "an unknown reason")
        return said(meaning, f"badp={code}")
    if "too_busy" in params:
        return said(f"all {params['too_busy']} channels are busy", "too_busy")
    if "redirect" in params:
        return said(f"all channels busy; it redirects to {unquote(params['redirect'] or '')}",
                    "redirect")  # fmt: skip
    if "down" in params:
        reason = unquote(params.get("reason_disabled") or "")
        text = DOWN.get(params["down"] or "", f"user connections disabled: {reason or 'no reason'}")
        return said(text, f"down={params['down']}")
    if "exclusive_use" in params:
        return said("locked for exclusive use by an extension (e.g. DRM)", "exclusive_use")
    if "wb_only" in params:
        return said("it takes wideband connections only", "wb_only")
    if "monitor" in params:
        return said("all channels busy; it offered only a monitor (camp) slot", "monitor")
    if "inactivity_timeout" in params:
        return said(f"inactivity time limit of {params['inactivity_timeout']} minutes reached",
                    "inactivity_timeout")  # fmt: skip
    if "ip_limit" in params:
        minutes = unquote(params["ip_limit"] or "").split(",")[0]
        return said(f"24-hour time limit of {minutes} minutes per IP address reached", "ip_limit")
    if "password_timeout" in params:
        return said("no valid password in time", "password_timeout")
    if "kiwi_kick" in params:
        text = unquote(params["kiwi_kick"] or "").partition(",")[2] or "kicked"
        return said(f"kicked by its admin: {text}", "kiwi_kick")
    return None


def gps_time(gpssec: int, gpsnsec: int, now: datetime) -> datetime:
    """The UTC instant of GPS seconds-of-week + nanoseconds, in the GPS week nearest `now`."""
    now_gps = (now - GPS_EPOCH).total_seconds() + GPS_UTC_LEAP_SECONDS
    week = round((now_gps - gpssec) / GPS_WEEK_S)
    seconds = week * GPS_WEEK_S + gpssec - GPS_UTC_LEAP_SECONDS
    return GPS_EPOCH + timedelta(seconds=seconds, microseconds=gpsnsec / 1000)


def parse_snd(body: bytes, iq: bool) -> tuple[int, float, np.ndarray, dict | None]:
    """(sequence, RSSI dBm, samples, GPS header or None) of an SND frame body (after "SND")."""
    if len(body) < 7:
        raise ProtocolError("short SND frame")
    flags, sequence = struct.unpack("<BI", body[:5])
    (smeter,) = struct.unpack(">H", body[5:7])
    data = body[7:]
    if flags & SND_FLAG_COMPRESSED:
        raise ProtocolError("the KiwiSDR sent ADPCM audio although compression=0 was asked for")
    dtype = "<i2" if flags & SND_FLAG_LITTLE_ENDIAN else ">i2"
    gps = None
    if iq:
        if len(data) < IQ_GPS_HEADER:
            raise ProtocolError("short I/Q SND frame")
        last, _dummy, gpssec, gpsnsec = struct.unpack("<BBII", data[:IQ_GPS_HEADER])
        gps = {"last_gps_solution": last, "gpssec": gpssec, "gpsnsec": gpsnsec}
        data = data[IQ_GPS_HEADER:]
        values = np.frombuffer(data[: len(data) // 4 * 4], dtype=dtype).astype(np.float64)
        samples = (values[0::2] + 1j * values[1::2]) / 32768.0
    else:
        samples = np.frombuffer(data[: len(data) // 2 * 2], dtype=dtype) / 32768.0
    return sequence, 0.1 * smeter - 127.0, samples, gps


def gps_fix(gps: dict | None) -> bool:
    """Whether a frame's GPS timestamp is one to trust (see the module docstring)."""
    if gps is None or (gps["gpssec"] == 0 and gps["gpsnsec"] == 0):
        return False
    return gps["last_gps_solution"] <= GPS_MAX_SOLUTION_AGE_S


class KiwiSDRSource(Source):
    def __init__(self, *, url: str, frequency_hz: int, timeout: float, password: str = "",
                 mode: str = "iq") -> None:  # fmt: skip
        self.endpoint = kiwisdr_endpoint(url, int(time.time()))
        self.frequency_hz = frequency_hz
        self.timeout = timeout
        self.password = password
        self.mode = mode
        self.passband = PASSBANDS.get(mode, PASSBANDS["iq"])
        self.sample_rate: float | None = None
        self.audio_rate: int | None = None
        self.accepted = False
        self.version_seen = False
        self.freq_offset_khz = 0.0
        self.rssi: float | None = None
        self.refusal: str | None = None
        self.ws = None
        self.last_keepalive = 0.0

    async def _set(self, command: str) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            await self.ws.send(f"SET {command}")
        except ConnectionClosed:
            # Closed under us: a refusal may be waiting in what was received before the close.
            while True:
                message = await self._recv()  # raises once the buffer is empty
                if message[:3] == b"MSG":
                    await self._handle_msg(message[4:])

    async def _recv(self) -> bytes:
        from websockets.exceptions import ConnectionClosed

        try:
            message = await self.ws.recv()
        except ConnectionClosed as exc:
            raise closed_reason(exc, self.refusal) from exc
        return message.encode() if isinstance(message, str) else message

    async def _handle_msg(self, body: bytes) -> None:
        params = parse_msg(body)
        reason = refusal(params)
        if reason:
            self.refusal = reason
            raise ProtocolError(reason)
        if params.get("badp") == "0":
            self.accepted = True
        if "version_maj" in params:
            self.version_seen = True
        if params.get("freq_offset"):
            self.freq_offset_khz = float(params["freq_offset"])
        if params.get("audio_rate") and self.audio_rate is None:
            self.audio_rate = int(float(params["audio_rate"]))
            await self._set(f"AR OK in={self.audio_rate} out=44100")
        if params.get("sample_rate"):
            self.sample_rate = float(params["sample_rate"])

    async def open(self) -> None:
        self.ws = await open_websocket(self.endpoint, self.timeout)
        await self._set(f"auth t=kiwi p={self.password}")
        try:
            async with asyncio.timeout(self.timeout * HANDSHAKE_SHARE):
                while not (self.accepted and self.version_seen and self.sample_rate
                           and self.audio_rate):  # fmt: skip
                    message = await self._recv()
                    if message[:3] == b"MSG":
                        await self._handle_msg(message[4:])
        except TimeoutError:
            missing = [
                name
                for name, seen in (
                    ("badp=0 (the auth verdict)", self.accepted),
                    ("version_maj", self.version_seen),
                    ("sample_rate", self.sample_rate),
                    ("audio_rate", self.audio_rate),
                )
                if not seen
            ]
            raise ProtocolError(
                f"not a KiwiSDR, or it stopped answering: no {', '.join(missing)} within "
                f"{self.timeout * HANDSHAKE_SHARE:.0f} s"
            ) from None
        low, high = self.passband
        baseband_khz = self.frequency_hz / 1000 - self.freq_offset_khz  # kiwiclient set_mod
        await self._set(f"mod={self.mode} low_cut={low} high_cut={high} freq={baseband_khz:.3f}")
        await self._set("agc=1 hang=0 thresh=-100 slope=6 decay=1000 manGain=50")
        await self._set("compression=0")
        await self._set("ident_user=heimdall")
        await self._set("keepalive")
        self.last_keepalive = time.monotonic()

    async def read(self) -> Chunk:
        wanted = int(self.sample_rate * CHUNK_SECONDS)
        parts, count = [], 0
        first_gps, received_at = None, None
        while count < wanted:
            message = await self._recv()
            tag, body = message[:3], message[3:]
            if tag == b"MSG":
                await self._handle_msg(body[1:])
            elif tag == b"SND":
                # The layout follows the mode asked for, as kiwiclient reads it.
                _, self.rssi, samples, gps = parse_snd(body, iq=self.mode == "iq")
                if not parts:
                    first_gps, received_at = gps, utc_now()
                parts.append(samples)
                count += len(samples)
            if time.monotonic() - self.last_keepalive > KEEPALIVE_S:
                await self._set("keepalive")
                self.last_keepalive = time.monotonic()
        metadata, timestamp, clock = {}, received_at, SYSTEM_CLOCK
        if first_gps is not None:
            metadata["gps_last_solution_s"] = first_gps["last_gps_solution"]
            if gps_fix(first_gps):
                sampled = gps_time(first_gps["gpssec"], first_gps["gpsnsec"], received_at)
                if abs((sampled - received_at).total_seconds()) <= GPS_SANITY_S:
                    timestamp, clock = sampled, GPS_CLOCK
                else:
                    metadata["gps_time_rejected"] = sampled.isoformat()
        return Chunk(
            samples=np.concatenate(parts),
            sample_rate=self.sample_rate,
            center_frequency=self.frequency_hz,
            signal_level_db=self.rssi,
            audio_mode=None if self.mode == "iq" else self.mode,
            passband=self.passband,
            timestamp=timestamp,
            clock=clock,
            metadata=metadata,
        )

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
