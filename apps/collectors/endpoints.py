"""Receiver endpoints from station URLs, built the way each receiver's own web page builds them.

A station's `url` (or `api_config.stream_url`) is the address an operator
opens in a browser. The receiver's page then opens its WebSocket from
`window.location`; Heimdall does the same, so that every URL that works in a
browser works here:

* scheme: `http` → `ws`, `https` → `wss`; a `ws`/`wss` URL with a path (an
  `api_config.stream_url` naming the endpoint itself) is used as it is,
  one without a path is treated like its http/https page;
* port: an explicit one is kept, a default one (80 for http/ws, 443 for
  https/wss) is left out, as `location.host` leaves it out;
* host: lower-cased; an IPv6 literal keeps its brackets; an internationalised
  name becomes its ASCII (punycode) form by UTS #46, as browsers convert it;
  user name and password are dropped (`location.host` has none);
* path: each receiver's own rule (below); query and fragment are dropped.

Sources of the rules:
* OpenWebRX, `htdocs/openwebrx.js` `open_websocket()` (jketterl/openwebrx and
  luarvique/openwebrx alike): the page's href up to its last "/", plus "ws/".
  A receiver behind a reverse proxy at `https://example.org/sdr/` is at
  `wss://example.org/sdr/ws/`.
* KiwiSDR, `web/kiwi/kiwi_util.js` `open_websocket()` (jks-prv/Beagle_SDR_GPS):
  the page's origin only (`window.location.origin`), any path dropped; the
  stream path `/<timestamp>/SND` is the one `rx/rx_server.cpp` accepts from
  non-browser clients (kiwiclient's `kiwi/client.py` `_prepare_stream`).
* Classic WebSDR (PA3FWM): the sound script opens
  `ws://` + `location.host` + `/~~stream` (`/~~stream?v=11` on the
  distributed servers), as described in Guru-RF/VFO-Knob
  `components/wsdr_proto/include/wsdr_proto.h`; any path dropped.
"""

from dataclasses import dataclass
from urllib.parse import urlsplit

import idna

from apps.collectors.base import ProtocolError

SECURE = {"https": True, "wss": True, "http": False, "ws": False}
DEFAULT_PORT = {True: 443, False: 80}


@dataclass(frozen=True)
class PageLocation:
    """What a browser's `window.location` holds for a station URL."""

    secure: bool
    host: str  # ASCII; an IPv6 literal in brackets
    port: int | None  # None when it is the scheme's default
    path: str  # starts with "/"
    query: str = ""
    given_endpoint: bool = False  # the URL was a ws:// or wss:// one

    def endpoint_or(self, path: str) -> str:
        """The URL itself when it named an endpoint, else `path` on this host."""
        if self.given_endpoint:
            return self.websocket(self.path + (f"?{self.query}" if self.query else ""))
        return self.websocket(path)

    @property
    def netloc(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def websocket(self, path: str) -> str:
        return f"{'wss' if self.secure else 'ws'}://{self.netloc}{path}"

    def http(self, path: str) -> str:
        return f"{'https' if self.secure else 'http'}://{self.netloc}{path}"


def _ascii_host(host: str) -> str:
    if host.startswith("[") or ":" in host:  # an IPv6 literal
        return f"[{host.strip('[]').lower()}]"
    if host.isascii():
        return host.lower()
    trailing_dot = host.endswith(".")
    try:
        encoded = idna.encode(host.rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ProtocolError(f"host {host!r} is not a valid internationalised name: {exc}") from exc
    return encoded + ("." if trailing_dot else "")


def page_location(url: str) -> PageLocation:
    """The browser's view of `url`; ProtocolError names what makes it unusable."""
    if not isinstance(url, str) or not url.strip():
        raise ProtocolError("the station has no URL")
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in SECURE:
        raise ProtocolError(
            f"URL scheme {parts.scheme or '(none)'!r} is not http, https, ws or wss"
        )
    if not parts.hostname:
        raise ProtocolError(f"URL {url!r} has no host")
    try:
        port = parts.port
    except ValueError as exc:
        raise ProtocolError(f"URL {url!r} has an invalid port") from exc
    secure = SECURE[scheme]
    if port == DEFAULT_PORT[secure]:
        port = None
    return PageLocation(
        secure=secure,
        host=_ascii_host(parts.hostname),
        port=port,
        path=parts.path or "/",
        query=parts.query,
        given_endpoint=scheme in ("ws", "wss") and parts.path not in ("", "/"),
    )


def openwebrx_endpoint(url: str) -> str:
    """`https://owrx.example.org/` → `wss://owrx.example.org/ws/` (openwebrx.js rule)."""
    location = page_location(url)
    directory = location.path[: location.path.rfind("/") + 1] or "/"
    return location.endpoint_or(f"{directory}ws/")


def kiwisdr_endpoint(url: str, timestamp: int) -> str:
    """`http://kiwi.example.org:8073/` → `ws://kiwi.example.org:8073/<timestamp>/SND`."""
    return page_location(url).endpoint_or(f"/{timestamp}/SND")


def websdr_endpoint(url: str, *, v11: bool) -> str:
    """`http://websdr.ewi.utwente.nl:8901/` → `ws://websdr.ewi.utwente.nl:8901/~~stream`."""
    return page_location(url).endpoint_or("/~~stream?v=11" if v11 else "/~~stream")


def websdr_http(url: str, path: str) -> str:
    """An HTTP resource of a classic WebSDR's site, e.g. `/tmp/bandinfo.js`."""
    return page_location(url).http(path)
