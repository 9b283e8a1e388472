"""Let Django, not Twisted, read request bodies under daphne, and never hold a whole body
in memory.

daphne's `WebRequest` is a `twisted.web.http.Request`, which by default parses every
`multipart/form-data` and urlencoded POST body into `request.args` before daphne hands
the request to Django (twisted/web/http.py, `Request.requestReceived`): the whole body
is read into memory (a 2 GB SigMF upload would be held in RAM, then parsed by the
`email` package), and a body Twisted cannot parse is answered with a bare
`HTTP/1.1 400 Bad Request` and no body, no envelope, no X-Request-ID (found by
`make fuzz`: `POST /api/v1/recordings` with an empty multipart body). daphne never uses
`request.args`; Django parses the body itself, streaming files to disk (upload handlers)
and answering bad input in the envelope. Twisted's own switch for this is the
`parsePOSTFormSubmission` argument (Twisted ≥ 23.10); daphne does not pass it, so it is
turned off here, once, when heimdall.asgi is imported by daphne.

Then daphne itself: once Twisted has the whole body (in `Request.content`, a temporary
file past 100 kB), daphne reads it in 8 KiB pieces and puts every piece into the
application's input queue at once (daphne/http_protocol.py, `WebRequest.process`;
the queue is made in daphne/server.py, `Server.create_application`): a 512 MiB upload
raised the server's peak memory by 463 MiB (bench/upload.py), a 2 GB one would need
2 GB. `_BodyOnDisk` is that queue keeping only *where* the body lies in the file,
queued from its size when the application is made and read back, 1 MiB at a time,
when the application asks for it; daphne's own reading (131,072 reads per GiB on the
event loop, which held every other connection) finds nothing (`_EmptyBody`).

And before either: Twisted spools every body whole before daphne sees the request,
whatever its size — a 100 GB POST would fill the disk before Django's
RequestSizeLimitMiddleware answered 413. Past the path's limit
(apps.core.middleware.body_limit: the declared Content-Length, or the bytes of a
chunked body so far) the body is received and dropped (`_EmptyBody`), and the request
reaches Django with an empty body and a Content-Length saying how large it was: the
middleware answers the 413 in the envelope, with the request id and CORS headers of
every other answer. A client that declared a length past the limit and waits for
`100 Continue` is not asked for the body: the 413 comes at once and the connection
closes after it.
"""

import asyncio
import contextlib
from functools import partial
from urllib.parse import unquote

_done = False
READ_BYTES = 2**20  # body read back per `http.request` message the application receives


class _BodyOnDisk(asyncio.Queue):
    """The ASGI input queue of one HTTP request whose body is `content` (Twisted's
    file-like `Request.content`, complete when the application is made): `http.request`
    messages are queued at once as byte ranges of it, READ_BYTES each, and read when the
    application receives them; other messages (`http.disconnect`) pass as they are.

    daphne then reads the body itself in 8 KiB pieces to put them here (http_protocol.py,
    `WebRequest.process`), on the event loop: for a 1 GiB upload 131,072 reads that
    held every other connection (WebSockets included) for a second or more. It is given
    `_EmptyBody(content)` instead, which has nothing to read, and its one empty message is not
    queued."""

    def __init__(self, content):
        super().__init__()
        self._content = content
        size = 0 if content.closed else content.seek(0, 2)  # closed: the client went away
        for start in range(0, max(size, 1), READ_BYTES):
            end = min(start + READ_BYTES, size)
            super().put_nowait(("body", start, end, end < size))

    def put_nowait(self, item):
        if item.get("type") == "http.request":
            return None  # daphne's own reading of `_EmptyBody`: the ranges are queued
        return super().put_nowait(item)

    async def get(self):
        item = await super().get()
        if not isinstance(item, tuple):
            return item
        _, start, end, more = item
        if self._content.closed:  # the request ended (the client went away): no body left
            return {"type": "http.disconnect"}
        self._content.seek(start)
        body = self._content.read(end - start)
        return {"type": "http.request", "body": body, "more_body": more}


class _EmptyBody:
    """What Twisted and daphne see as a request's body when they must not hold it: one
    past its limit (`_EmptyBody()`: written to nowhere) or one `_BodyOnDisk` has queued
    (`_EmptyBody(content)`: nothing left to read; closing it, when the request ends,
    closes the body's file). Reads as empty either way."""

    def __init__(self, content=None):
        self._content = content
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._content.closed if self._content is not None else self._closed

    def write(self, data) -> None:
        pass

    def read(self, size=-1) -> bytes:
        return b""

    def seek(self, offset, whence=0) -> int:
        return 0

    def tell(self) -> int:
        return 0

    def close(self) -> None:
        if self._content is not None:
            self._content.close()
        self._closed = True


def origin_form(request_target: bytes) -> tuple[bytes, bytes | None]:
    """An absolute-form request target (`http://host:port/path?query`, what a client
    talking to a proxy sends, and what servers must accept: RFC 9112 §3.2.2) as
    (origin-form `/path?query`, the authority `host:port` without userinfo); any other
    target unchanged, with None. Twisted and daphne take the whole target for the path:
    Django then answered every such request with the console's HTML 404."""
    scheme, sep, rest = request_target.partition(b"://")
    if not sep or scheme.lower() not in (b"http", b"https"):
        return request_target, None
    ends = [i for i in (rest.find(b"/"), rest.find(b"?")) if i >= 0]
    cut = min(ends, default=len(rest))
    target = rest[cut:]
    return (target if target.startswith(b"/") else b"/" + target), rest[:cut].rpartition(b"@")[2]


def _limit_for(request_target: bytes) -> int:
    """The limit Django will apply: `body_limit` of the path exactly as daphne hands it
    to Django (the origin-form target up to `?`, ASCII, percent-decoded:
    daphne/http_protocol.py, Twisted's `Request.requestReceived`, `origin_form`). Not
    `urlsplit`: it reads `//x/api/v1/recordings` or a `#fragment` as another path than
    Django's, and a body Django refuses at 16 MiB was stored up to the upload limit
    (4 GiB). A target daphne refuses (not ASCII): the default limit."""
    from apps.core.middleware import body_limit

    path = "/"
    with contextlib.suppress(UnicodeDecodeError):
        path = unquote(origin_form(request_target)[0].split(b"?", 1)[0].decode("ascii"))
    return body_limit(path)


def _got_length(original):
    def gotLength(self, length):  # Twisted's name
        self._heimdall_limit = _limit_for(getattr(self.channel, "_path", b"/") or b"/")
        self._heimdall_received = 0
        if length is not None and length > self._heimdall_limit:
            self.content = _EmptyBody()  # the declared Content-Length tells Django
            expect = self.requestHeaders.getRawHeaders(b"expect") or [b""]
            if expect[0].lower() == b"100-continue":
                # The client waits to be asked for the body: not asked (no 100 Continue),
                # it is answered the 413 now, and the connection closes after it (RFC 9110
                # 10.1.1) — else it sent the whole body to be dropped.
                self.requestHeaders.removeHeader(b"expect")
                self.channel.persistent = False
                self.responseHeaders.setRawHeaders(b"connection", [b"close"])
                self.channel.length = 0  # the channel dispatches the request at once
        else:
            original(self, length)

    return gotLength


def _handle_content_chunk(original):
    def handleContentChunk(self, data):  # Twisted's name
        self._heimdall_received = getattr(self, "_heimdall_received", 0) + len(data)
        if isinstance(self.content, _EmptyBody):
            return
        if self._heimdall_received > getattr(self, "_heimdall_limit", self._heimdall_received):
            # A chunked body past the limit: stop storing it; say how large it got.
            self.content.close()
            self.content = _EmptyBody()
            size = str(self._heimdall_received).encode()
            self.requestHeaders.setRawHeaders(b"content-length", [size])
            return
        original(self, data)

    return handleContentChunk


def _create_application(self, protocol, scope):
    """daphne's `Server.create_application` (daphne 4.2, server.py) with `_BodyOnDisk` as
    an HTTP request's input queue."""
    assert "application_instance" not in self.connections[protocol]
    content = getattr(protocol, "content", None)
    if scope.get("type") == "http" and content is not None:
        input_queue = _BodyOnDisk(content)
        protocol.content = _EmptyBody(content)
    else:
        input_queue = asyncio.Queue()
    scope.setdefault("asgi", {"version": "3.0"})
    application_instance = self.application(
        scope=scope, receive=input_queue.get, send=partial(self.handle_reply, protocol)
    )
    if protocol not in self.connections:
        return None
    self.connections[protocol]["application_instance"] = asyncio.ensure_future(
        application_instance, loop=asyncio.get_event_loop()
    )
    return input_queue


def let_django_parse_request_bodies() -> None:
    global _done
    if _done:
        return
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:  # not under daphne (runserver, tests' ASGI clients)
        return
    original = WebRequest.__init__

    def __init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self._parsePOSTFormSubmission = False

    WebRequest.__init__ = __init__
    WebRequest.gotLength = _got_length(WebRequest.gotLength)
    WebRequest.handleContentChunk = _handle_content_chunk(WebRequest.handleContentChunk)
    from daphne.server import Server

    Server.create_application = _create_application
    _done = True


def _request_received(original):
    def requestReceived(self, command, path, version):  # Twisted's name
        path, authority = origin_form(path)
        if authority is not None:
            # RFC 9112 §3.2.2: the target's host, not the Host header, names the host
            # (Django's ALLOWED_HOSTS then judges it).
            self.requestHeaders.setRawHeaders(b"host", [authority])
        return original(self, command, path, version)

    return requestReceived


_absolute_form_done = False


def accept_absolute_form_targets() -> None:
    """daphne serves `GET http://host/api/v1/stations HTTP/1.1` as `GET /api/v1/stations`
    with that host (`origin_form`), HTTP and WebSocket handshakes alike; idempotent."""
    global _absolute_form_done
    if _absolute_form_done:
        return
    try:
        from daphne.http_protocol import WebRequest
    except ImportError:  # not under daphne
        return
    WebRequest.requestReceived = _request_received(WebRequest.requestReceived)
    _absolute_form_done = True
