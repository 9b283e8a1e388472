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
2 GB. `_BodyOnDisk` is that queue keeping only *where* each piece lies in the file,
read back, up to 1 MiB at a time, when the application asks for it.
"""

import asyncio
from functools import partial

_done = False
READ_BYTES = 2**20  # body read back per `http.request` message the application receives


class _BodyOnDisk(asyncio.Queue):
    """The ASGI input queue of one HTTP request whose body is `content` (Twisted's
    file-like `Request.content`): `http.request` messages are queued as byte ranges of
    it, merged up to READ_BYTES, and read when the application receives them; other
    messages (`http.disconnect`) pass as they are."""

    def __init__(self, content):
        super().__init__()
        self._content = content
        self._start = self._end = 0  # the range put and not queued yet

    def put_nowait(self, item):
        if item.get("type") != "http.request":
            return super().put_nowait(item)
        self._end += len(item.get("body", b""))
        more = item.get("more_body", False)
        if more and self._end - self._start < READ_BYTES:
            return None
        super().put_nowait(("body", self._start, self._end, more))
        self._start = self._end
        return None

    async def get(self):
        item = await super().get()
        if not isinstance(item, tuple):
            return item
        _, start, end, more = item
        if self._content.closed:  # the request ended (the client went away): no body left
            return {"type": "http.disconnect"}
        position = self._content.tell()  # where daphne's own reading of it is
        self._content.seek(start)
        body = self._content.read(end - start)
        self._content.seek(position)
        return {"type": "http.request", "body": body, "more_body": more}


def _create_application(self, protocol, scope):
    """daphne's `Server.create_application` (daphne 4.2, server.py) with `_BodyOnDisk` as
    an HTTP request's input queue."""
    assert "application_instance" not in self.connections[protocol]
    content = getattr(protocol, "content", None)
    if scope.get("type") == "http" and content is not None:
        input_queue = _BodyOnDisk(content)
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
    from daphne.server import Server

    Server.create_application = _create_application
    _done = True
