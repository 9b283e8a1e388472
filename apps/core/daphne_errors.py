"""daphne's and Twisted's own error answers in Heimdall's error envelope.

Some requests never reach Django:

- Twisted refuses a request it cannot parse with a bare `HTTP/1.1 400 Bad Request` and
  no headers or body (twisted/web/http.py, `HTTPChannel._respondToBadRequestAndDisconnect`):
  a request line with raw non-ASCII bytes in the path or query, a header line without a
  colon or with a NUL, a Content-Length that is not a number, headers past 16 KiB or
  past 500 lines, broken chunked encoding; a single line past 16 KiB even closed the
  connection without a word (twisted/protocols/basic.py, `lineLengthExceeded`);
- autobahn refuses a WebSocket handshake it cannot accept (no Sec-WebSocket-Key, an
  unsupported Sec-WebSocket-Version, a handshake the application denied) with a status
  line and no body (autobahn/websocket/protocol.py, `sendHttpErrorResponse`);
- daphne answers with an HTML page (daphne/http_protocol.py, `WebRequest.basic_error`):
  400 for a path or query it cannot decode (Twisted now refuses those first), 500
  "Daphne HTTP processing error" (daphne failed while handing the request over) and
  "Exception inside application." (the ASGI application raised), 503 "Application
  failed to respond within time limit." (only with --http-timeout).

A client of the API then got no body or `text/html` where every other answer is the JSON
envelope (`{"error": {"code", "message", "details", "request_id", "timestamp"}}`) with
an X-Request-ID header. `envelope_daphne_errors()` replaces all three, once, when
heimdall.asgi is imported by daphne: same status, the envelope (`details.reason`: the
server's own words), a fresh request id, and Retry-After on a 503 like every other 503.
Twisted still closes the connection after its 400. (No CORS headers: these answers come
before, or instead of, Django's middleware.)
"""

import json

from apps.core.exceptions import envelope
from apps.core.request_id import new_request_id, reset_request_id, set_request_id

RETRY_AFTER_SECONDS = 5
CODES = {
    400: "BAD_REQUEST",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    500: "INTERNAL_ERROR",
    503: "SERVICE_UNAVAILABLE",
}
MESSAGES = {
    400: "Bad request: the server could not read the request line or headers.",
    500: "An internal error occurred.",
    503: "The server did not answer in time.",
}
WEBSOCKET_REFUSED = "The WebSocket handshake was refused."

_done = False


def error_headers(status: int, request_id: str) -> list[tuple[bytes, bytes]]:
    """Headers of the server's own error answer."""
    headers = [
        (b"Content-Type", b"application/json"),
        (b"X-Request-ID", request_id.encode("ascii")),
    ]
    if status == 503:
        headers.append((b"Retry-After", str(RETRY_AFTER_SECONDS).encode("ascii")))
    return headers


def _raw_answer(status_line: str, body: bytes, request_id: str, extra=()) -> bytes:
    """A whole HTTP/1.1 answer as bytes, for the layers below daphne's ASGI replies
    (Twisted's channel, autobahn's handshake): the status line, `extra` headers (name,
    value) and the envelope's."""
    status = int(status_line.split()[0])
    fields = [*extra, *((n.decode(), v.decode()) for n, v in error_headers(status, request_id))]
    head = f"HTTP/1.1 {status_line}\r\n" + "".join(f"{n}: {v}\r\n" for n, v in fields)
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def error_body(status: int, reason: str, request_id: str, message: str | None = None) -> bytes:
    """The envelope of the server's error `status` (apps.core.exceptions.envelope);
    `reason` is daphne's, Twisted's or autobahn's own text, `message` (default: one per
    status) the envelope's."""
    token = set_request_id(request_id)
    try:
        code = CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL_ERROR")
        return json.dumps(envelope(code, message or MESSAGES.get(status, reason),
                                   {"reason": reason})).encode()  # fmt: skip
    finally:
        reset_request_id(token)


def _basic_error(self, status, status_text, body):  # daphne's signature
    request_id = new_request_id()
    self.handle_reply(
        {
            "type": "http.response.start",
            "status": status,
            "headers": error_headers(status, request_id),
        }
    )
    self.handle_reply({"type": "http.response.body", "body": error_body(status, body, request_id)})


UNPARSABLE = "The request could not be parsed as HTTP/1.1."
LINE_TOO_LONG = "A request line or header line is longer than 16384 bytes."


def _bad_request_and_disconnect(self, reason: str = UNPARSABLE):  # Twisted's HTTPChannel
    request_id = new_request_id()
    body = error_body(400, reason, request_id)
    self.transport.write(
        _raw_answer("400 Bad Request", body, request_id, [("Connection", "close")])
    )
    self.loseConnection()


def _websocket_http_error(self, code, reason, responseHeaders=None):  # autobahn's
    request_id = new_request_id()
    body = error_body(code, reason, request_id, WEBSOCKET_REFUSED)
    self.sendData(_raw_answer(f"{code} {reason}", body, request_id, responseHeaders or ()))


SUBPROTOCOL_NOT_ASCII = "Sec-WebSocket-Protocol is not ASCII"


def _refusing_non_ascii_subprotocols(on_connect):
    """daphne's WebSocketProtocol.onConnect, refusing (400) a Sec-WebSocket-Protocol that
    is not ASCII: daphne decodes it as ASCII, and the UnicodeDecodeError became a logged
    traceback and autobahn's 500 with the exception's text in its status line."""
    from autobahn.websocket.types import ConnectionDeny

    def onConnect(self, request):  # autobahn's name
        for name, value in request.headers.items():
            if name.lower() == "sec-websocket-protocol" and not value.isascii():
                raise ConnectionDeny(ConnectionDeny.BAD_REQUEST, SUBPROTOCOL_NOT_ASCII)
        return on_connect(self, request)

    return onConnect


def envelope_daphne_errors() -> None:
    """Answer daphne's and Twisted's own errors in the envelope (idempotent)."""
    global _done
    if _done:
        return
    from daphne.http_protocol import WebRequest
    from daphne.ws_protocol import WebSocketProtocol
    from twisted.web.http import HTTPChannel

    WebRequest.basic_error = _basic_error
    HTTPChannel._respondToBadRequestAndDisconnect = _bad_request_and_disconnect
    HTTPChannel.lineLengthExceeded = lambda self, line: _bad_request_and_disconnect(
        self, LINE_TOO_LONG
    )
    WebSocketProtocol.sendHttpErrorResponse = _websocket_http_error
    WebSocketProtocol.onConnect = _refusing_non_ascii_subprotocols(WebSocketProtocol.onConnect)
    _done = True
