"""Who is the client: forwarded headers are believed only from configured proxies.

`HEIMDALL_TRUSTED_PROXIES` lists the addresses or networks of the reverse
proxies / load balancers in front of Heimdall (`10.0.0.5,10.1.0.0/16`);
default: none. The client address is then found the way RFC 7239 §5.2 and
every careful proxy chain reader (nginx `real_ip_recursive`, Rails
`remote_ip`) do it: start at the TCP peer; while the current hop is a trusted
proxy, step one entry left in `X-Forwarded-For`; the first hop that is not a
trusted proxy is the client. A client can put anything at the left of the
header, but never to the right of what a trusted proxy appended, so a forged
header changes nothing.

The same rule serves HTTP (`ClientAddressMiddleware`, which also drops
`X-Forwarded-Proto`/`-Host`/`-For` sent by untrusted peers so that Django's
`SECURE_PROXY_SSL_HEADER` and `USE_X_FORWARDED_HOST` only ever see a
proxy's word) and WebSockets (`ClientAddressASGI`). Rate limits, login limits,
WebSocket origin checks and logs all read the address from here.

daphne's own `--proxy-headers` takes the *left-most* `X-Forwarded-For` entry
from anyone (daphne/utils.py `parse_x_forwarded_for`) and overwrites the
peer address before the application sees it, so the rule above could not be
applied: Heimdall refuses to start under it (`refuse_daphne_proxy_headers`).

daphne likewise takes the ASGI `root_path` from a `Daphne-Root-Path` header sent by
anyone (daphne/http_protocol.py `WebRequest.process`, daphne/ws_protocol.py
`WebSocketProtocol.onConnect`), meant for a proxy mounting the server under a prefix.
From a client it was a 500: a non-ASCII value failed daphne's own decoding (HTTP), and a
prefix the path does not start with made channels' URLRouter raise "No route found"
(every WebSocket path). Heimdall serves at `/`; a sub-path deployment sets daphne's
`--root-path`, which is kept. `ignore_client_root_path` drops the header before daphne
reads it.
"""

import ipaddress
import logging
import sys
from contextvars import ContextVar
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

_current_client: ContextVar[str | None] = ContextVar("heimdall_client_address", default=None)
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _parse_networks(raw: tuple[str, ...]) -> tuple[Network, ...]:
    networks = []
    for item in raw:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"HEIMDALL_TRUSTED_PROXIES: {item!r} is not an IP address or network"
            ) from exc
    return tuple(networks)


def trusted_networks() -> tuple[Network, ...]:
    return _parse_networks(tuple(getattr(settings, "HEIMDALL_TRUSTED_PROXIES", ())))


def _ip(value: str | None):
    if not value:
        return None
    value = value.strip()
    if value.startswith("[") and "]" in value:  # [v6]:port
        value = value[1 : value.index("]")]
    elif value.count(":") == 1:  # v4:port
        value = value.split(":", 1)[0]
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def is_trusted_proxy(address: str | None) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in network for network in trusted_networks())


def resolve_client(peer: str | None, forwarded_for: str | None) -> str:
    """The client's address: `peer` unless it is a trusted proxy (module docstring).

    `forwarded_for` is the raw X-Forwarded-For value (several headers joined
    with commas). Returns "unknown" when the peer is not known at all.
    """
    if not peer:
        return "unknown"
    if not forwarded_for or not is_trusted_proxy(peer):
        return peer
    current = peer
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        ip = _ip(hop)
        if ip is None:
            break  # garbage left of the trusted hops: the last good hop is the client
        current = str(ip)
        if not is_trusted_proxy(current):
            break
    return current


def current_client() -> str | None:
    """The address of the client of the request or socket being served (for logs)."""
    return _current_client.get()


def _forwarded_for_meta(meta) -> str | None:
    return meta.get("HTTP_X_FORWARDED_FOR")


_FORWARDED_META = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
                   "HTTP_X_FORWARDED_PORT", "HTTP_FORWARDED")  # fmt: skip


class ClientAddressMiddleware:
    """Sets REMOTE_ADDR to the client's address; keeps the TCP peer in HEIMDALL_PEER_ADDR.

    First in MIDDLEWARE: everything after it (DRF throttles with NUM_PROXIES
    = 0, the rate limiter, the login limiter, Django's proxy SSL header) sees
    only what the trust rule allows.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        meta = request.META
        peer = meta.get("REMOTE_ADDR")
        meta["HEIMDALL_PEER_ADDR"] = peer
        if is_trusted_proxy(peer):
            meta["REMOTE_ADDR"] = resolve_client(peer, _forwarded_for_meta(meta))
        else:
            for name in _FORWARDED_META:
                meta.pop(name, None)
        token = _current_client.set(meta["REMOTE_ADDR"])
        try:
            return self.get_response(request)
        finally:
            _current_client.reset(token)


def _header(scope, name: bytes) -> str | None:
    values = [v.decode("latin1") for k, v in scope.get("headers", []) if k.lower() == name]
    return ",".join(values) if values else None


def websocket_scheme(scope) -> str:
    """'wss' or 'ws' as the client sees it (X-Forwarded-Proto only from a trusted proxy)."""
    scheme = scope.get("scheme") or "ws"
    peer = scope.get("heimdall.peer") or (scope.get("client") or [None])[0]
    if is_trusted_proxy(peer):
        forwarded = (_header(scope, b"x-forwarded-proto") or "").split(",")[0].strip().lower()
        if forwarded in ("https", "wss"):
            scheme = "wss"
        elif forwarded in ("http", "ws"):
            scheme = "ws"
    return scheme


class ClientAddressASGI:
    """The same rule for WebSockets: scope["client"] becomes the client's address.

    The TCP peer stays in scope["heimdall.peer"].
    """

    def __init__(self, inner):
        self.inner = inner

    async def __call__(self, scope, receive, send):
        client = scope.get("client") or None
        peer = client[0] if client else None
        address = resolve_client(peer, _header(scope, b"x-forwarded-for"))
        scope = {
            **scope,
            "client": [address, client[1] if client and address == peer else 0],
            "heimdall.peer": peer,
        }
        token = _current_client.set(address)
        try:
            return await self.inner(scope, receive, send)
        finally:
            _current_client.reset(token)


ROOT_PATH_HEADER = "daphne-root-path"
_root_path_ignored = False


def ignore_client_root_path() -> None:
    """daphne no longer takes `root_path` from a client's Daphne-Root-Path header (see the
    module docstring); idempotent."""
    global _root_path_ignored
    if _root_path_ignored:
        return
    from daphne.http_protocol import WebRequest
    from daphne.ws_protocol import WebSocketProtocol

    process, on_connect = WebRequest.process, WebSocketProtocol.onConnect

    def process_without(self):  # daphne's name
        self.requestHeaders.removeHeader(ROOT_PATH_HEADER.encode())
        return process(self)

    def on_connect_without(self, request):  # autobahn's name; header names in lower case
        request.headers.pop(ROOT_PATH_HEADER, None)
        return on_connect(self, request)

    WebRequest.process = process_without
    WebSocketProtocol.onConnect = on_connect_without
    _root_path_ignored = True


def refuse_daphne_proxy_headers(argv: list[str] | None = None) -> None:
    """Stop a daphne started with --proxy-headers (see the module docstring)."""
    argv = sys.argv if argv is None else argv
    if any(arg == "--proxy-headers" or arg.startswith("--proxy-headers-") for arg in argv):
        raise ImproperlyConfigured(
            "daphne --proxy-headers believes X-Forwarded-For from any client and hides the "
            "real peer address. Remove the option; list your proxies in "
            "HEIMDALL_TRUSTED_PROXIES instead (docs/running.md)."
        )
