"""A station's URL as a browser's `window.location` sees it (WHATWG URL rules for hosts).

Shared by the station API (a URL no receiver page could be opened from is a
400 naming `url` / `api_config.stream_url`) and the collectors
(apps.collectors.endpoints builds each receiver's WebSocket from it), so a
URL is accepted exactly when a collector can use it:

* scheme: `http`, `https`, `ws` or `wss` (`ftp:`, `javascript:` ... are refused);
* host: lower-cased; percent-escapes decoded and an internationalised name
  converted to ASCII (punycode) by UTS #46, as browsers do; an IPv6 literal
  keeps its brackets; zone ids (`fe80::1%25eth0`), spaces and the WHATWG
  forbidden host code points are refused;
* port: 1-65535 (an explicit default one, 80 or 443, is left out, as
  `location.host` leaves it out); 0 and anything else is refused;
* user name and password are dropped (`location.host` has none); the path
  is kept; the query is kept for a `ws`/`wss` URL naming its endpoint.
"""

import ipaddress
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import idna

SECURE = {"https": True, "wss": True, "http": False, "ws": False}
DEFAULT_PORT = {True: 443, False: 80}
# WHATWG URL "forbidden host code points" (plus what a domain may not hold either).
_FORBIDDEN_HOST = frozenset("\x00\t\n\r #/:<>?@[\\]^|%")


class BadURL(ValueError):
    """Why a URL cannot be opened as a receiver's page."""


@dataclass(frozen=True)
class PageLocation:
    """What a browser's `window.location` holds for a station URL."""

    secure: bool
    host: str  # ASCII; an IPv6 literal in brackets
    port: int | None  # None when it is the scheme's default
    path: str  # starts with "/"
    query: str = ""
    given_endpoint: bool = False  # the URL was a ws:// or wss:// one with a path

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
    if ":" in host:  # an IPv6 literal (urlsplit has removed the brackets)
        if "%" in host:
            raise BadURL(f"host [{host}] has a zone id, which no browser opens")
        try:
            return f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            raise BadURL(f"host [{host}] is not an IPv6 address") from None
    if "%" in host:
        host = unquote(host)  # browsers decode percent-escapes in hosts
    bad = sorted({char for char in host if char in _FORBIDDEN_HOST or ord(char) < 0x20})
    if bad or not host.strip("."):
        raise BadURL(f"host {host!r} holds characters no host name may hold: {bad!r}")
    if host.isascii():
        return host.lower()
    trailing_dot = host.endswith(".")
    try:
        encoded = idna.encode(host.rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise BadURL(f"host {host!r} is not a valid internationalised name: {exc}") from None
    return encoded + ("." if trailing_dot else "")


def page_location(url) -> PageLocation:
    """The browser's view of `url`; BadURL names what makes it unusable."""
    if not isinstance(url, str) or not url.strip():
        raise BadURL("the station has no URL")
    try:
        parts = urlsplit(url.strip())
    except ValueError as exc:  # "Invalid IPv6 URL"
        raise BadURL(f"URL {url!r} cannot be read: {exc}") from None
    try:
        port = parts.port
    except ValueError:
        raise BadURL(f"URL {url!r} has an invalid port") from None
    scheme = parts.scheme.lower()
    if scheme not in SECURE:
        raise BadURL(f"URL scheme {parts.scheme or '(none)'!r} is not http, https, ws or wss")
    if not parts.hostname:
        raise BadURL(f"URL {url!r} has no host")
    if port == 0:
        raise BadURL(f"URL {url!r} has port 0, which cannot be connected to")
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


def url_problem(url) -> str | None:
    """Why no receiver page could be opened from `url`, or None."""
    try:
        page_location(url)
    except BadURL as exc:
        return str(exc)
    return None
