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
* a host ending in a number is an IPv4 address in any form a browser reads
  (`0x7f.1`, `2130706433` → `127.0.0.1`); `999.1.1.1` or `1.2.3.4.5` is refused;
* user name and password are dropped (`location.host` has none); the query
  is kept for a `ws`/`wss` URL naming its endpoint;
* path: as the browser serialises it: `\\` read as `/`, `.` and `..` segments
  (also as `%2e`) resolved, spaces, controls, `"<>`{}` and non-ASCII
  percent-encoded (UTF-8), existing escapes kept.
"""

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

import idna

SECURE = {"https": True, "wss": True, "http": False, "ws": False}
DEFAULT_PORT = {True: 443, False: 80}
# WHATWG URL "forbidden host code points" (plus what a domain may not hold either).
_FORBIDDEN_HOST = frozenset("\x00\t\n\r #/:<>?@[\\]^|%")


# WHATWG URL "path percent-encode set" beyond what quote() leaves alone: quote keeps
# letters, digits and "_.-~" plus `safe`; everything else printable stays as typed.
_PATH_SAFE = "/%!$&'()*+,;=:@[]\\^|"
_SINGLE_DOT = frozenset({".", "%2e"})
_DOUBLE_DOT = frozenset({"..", ".%2e", "%2e.", "%2e%2e"})


class BadURL(ValueError):
    """Why a URL cannot be opened as a receiver's page."""


def _browser_path(path: str) -> str:
    """`path` as a browser serialises it (WHATWG URL path state, special schemes)."""
    segments = path.replace("\\", "/").split("/")[1:] if path else [""]
    out: list[str] = []
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        lowered = segment.lower()
        if lowered in _DOUBLE_DOT:
            if out:
                out.pop()
            if last:
                out.append("")
        elif lowered in _SINGLE_DOT:
            if last:
                out.append("")
        else:
            out.append(quote(segment, safe=_PATH_SAFE))
    return "/" + "/".join(out)


def _ipv4_number(part: str) -> int | None:
    if re.fullmatch(r"0[xX][0-9a-fA-F]*", part):
        return int(part[2:] or "0", 16)
    if re.fullmatch(r"0[0-9]+", part):  # a leading 0 means octal: "08" is no number
        return int(part, 8) if re.fullmatch(r"0[0-7]+", part) else None
    if re.fullmatch(r"[0-9]+", part):
        return int(part)
    return None


def _ipv4_host(host: str) -> str | None:
    """A host ending in a number is an IPv4 address for a browser (WHATWG "ends in a
    number"): its dotted form, or BadURL when it is not a valid one; None otherwise."""
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    last = parts[-1]
    if not (last.isascii() and last.isdigit()) and not re.fullmatch(r"0[xX][0-9a-fA-F]*", last):
        return None
    numbers = [_ipv4_number(part) for part in parts]
    if len(parts) > 4 or None in numbers or any(n > 255 for n in numbers[:-1]):
        raise BadURL(f"host {host!r} is not a valid IPv4 address")
    if numbers[-1] >= 256 ** (5 - len(numbers)):
        raise BadURL(f"host {host!r} is not a valid IPv4 address")
    value = numbers[-1] + sum(n << (8 * (3 - i)) for i, n in enumerate(numbers[:-1]))
    return str(ipaddress.IPv4Address(value))


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
        return _ipv4_host(host) or host.lower()
    trailing_dot = host.endswith(".")
    try:
        encoded = idna.encode(host.rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise BadURL(f"host {host!r} is not a valid internationalised name: {exc}") from None
    encoded += "." if trailing_dot else ""
    return _ipv4_host(encoded) or encoded  # full-width digits are digits too


def page_location(url) -> PageLocation:
    """The browser's view of `url`; BadURL names what makes it unusable."""
    if not isinstance(url, str) or not url.strip():
        raise BadURL("the station has no URL")
    url = url.strip()
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    url = url[:cut].replace("\\", "/") + url[cut:]  # browsers read \ as / before ? and #
    try:
        parts = urlsplit(url)
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
    path = _browser_path(parts.path)
    return PageLocation(
        secure=secure,
        host=_ascii_host(parts.hostname),
        port=port,
        path=path,
        query=parts.query,
        given_endpoint=scheme in ("ws", "wss") and path != "/",
    )


def url_problem(url) -> str | None:
    """Why no receiver page could be opened from `url`, or None."""
    try:
        page_location(url)
    except BadURL as exc:
        return str(exc)
    return None
