"""Requests the server answers itself, before Django (apps/core/daphne_errors.py): the
envelope and a request id, not a bare status line. Sent over a raw socket: an HTTP
client would percent-encode or refuse to send what is tried here."""

import http.client
import json
import os
import socket
from urllib.parse import urlsplit

import pytest
from django.db import connection

from tests.helpers import database_url
from tests.servers import daphne

# The server answers before Django: no test here writes. Plain django_db (no flush, no
# reload) so that pytest-django makes the test database the server is pointed at, even
# when this module runs alone; one server serves the module.
pytestmark = [pytest.mark.slow, pytest.mark.django_db]


@pytest.fixture(scope="module")
def base(tmp_path_factory, django_db_setup, django_db_blocker):
    tmp = tmp_path_factory.mktemp("daphne_errors")
    with django_db_blocker.unblock():
        url = database_url(connection.settings_dict)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "HEIMDALL_PROCESS": "web",
    }
    with daphne(env, tmp / "daphne.log") as (served, _process):
        yield served


def _raw(
    base: str, request_line: bytes, *headers: bytes, host: bytes = b"127.0.0.1"
) -> tuple[int, dict, bytes]:
    """Send one request as bytes; (status, headers with lower-case names, body)."""
    where = urlsplit(base)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall(
            request_line + b"\r\nHost: " + host + b"\r\nConnection: close\r\n"
            + b"".join(header + b"\r\n" for header in headers) + b"\r\n"
        )  # fmt: skip
        answer = http.client.HTTPResponse(sock)  # reads a chunked body too
        answer.begin()
        body = answer.read()
    return answer.status, {k.lower(): v for k, v in answer.getheaders()}, body


@pytest.mark.parametrize(
    "request_line, header",
    [
        (b"GET /api/v1/stations/\xc3\xa9 HTTP/1.1", b"Accept: application/json"),
        (b"GET /api/v1/signals/detections?station=\xff HTTP/1.1", b"Accept: */*"),
        (b"GET /api/v1/stations HTTP/1.1", b"this line has no colon"),
        (b"POST /api/v1/signals/detections HTTP/1.1", b"Content-Length: twelve"),
        (b"GET /api/v1/stations HTTP/1.1", b"X-A: " + b"a" * 9000 + b"\r\nX-B: " + b"b" * 9000),
        (b"GET /api/v1/stations HTTP/1.1 extra", b"Accept: */*"),
    ],
    ids=["non-ascii path", "non-ascii query", "header without colon", "bad length",
         "headers past 16 KiB", "four-part request line"],
)  # fmt: skip
def test_a_request_twisted_cannot_parse_gets_the_envelope(base, request_line, header):
    status, headers, body = _raw(base, request_line, header)
    assert status == 400, body
    assert headers["content-type"] == "application/json"
    assert headers["connection"] == "close"
    assert int(headers["content-length"]) == len(body)
    error = json.loads(body)["error"]
    assert error["code"] == "BAD_REQUEST"
    assert error["details"] == {"reason": "The request could not be parsed as HTTP/1.1."}
    assert error["request_id"] == headers["x-request-id"]
    assert error["timestamp"].endswith("Z")


def test_a_good_request_is_untouched(base):
    status, headers, body = _raw(base, b"GET /api/v1/stations/%C3%A9 HTTP/1.1")
    assert status == 401  # reached Django: no credentials
    assert json.loads(body)["error"]["code"] == "AUTHENTICATION_REQUIRED"
    assert headers["content-type"] == "application/json"


def test_a_line_past_16_kib_gets_the_envelope_not_a_silent_close(base):
    status, headers, body = _raw(base, b"GET /api/v1/stations HTTP/1.1", b"X-Pad: " + b"a" * 17_000)
    assert status == 400
    assert json.loads(body)["error"]["details"] == {
        "reason": "A request line or header line is longer than 16384 bytes."
    }
    assert json.loads(body)["error"]["request_id"] == headers["x-request-id"]


@pytest.mark.parametrize(
    "headers, reason",
    [
        ((), "WebSocket connection denied - Hixie76 protocol not supported."),
        ((b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", b"Sec-WebSocket-Version: 99"),
         "WebSocket version 99 not supported (supported versions: 13,8)"),
    ],
    ids=["no key", "unknown version"],
)  # fmt: skip
def test_a_refused_websocket_handshake_gets_the_envelope(base, headers, reason):
    status, answer, body = _raw(
        base,
        b"GET /ws/signals/live HTTP/1.1",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        *headers,
    )
    assert status == 400
    assert answer["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert (error["code"], error["message"]) == (
        "BAD_REQUEST",
        "The WebSocket handshake was refused.",
    )
    assert error["details"] == {"reason": reason}
    assert error["request_id"] == answer["x-request-id"]


def test_a_websocket_handshake_with_a_non_ascii_subprotocol_is_a_400_not_a_500(base):
    # daphne decoded Sec-WebSocket-Protocol as ASCII: UnicodeDecodeError, a traceback,
    # and autobahn's 500 whose status line and reason carried the exception's text.
    status, answer, body = _raw(
        base,
        b"GET /ws/signals/live HTTP/1.1",
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        b"Sec-WebSocket-Version: 13",
        b"Sec-WebSocket-Protocol: \xff\xfe",
    )
    assert status == 400, body
    error = json.loads(body)["error"]
    assert (error["code"], error["message"]) == (
        "BAD_REQUEST",
        "The WebSocket handshake was refused.",
    )
    assert error["details"] == {"reason": "Sec-WebSocket-Protocol is not ASCII"}
    assert error["request_id"] == answer["x-request-id"]


def _head(base: str, request_line: bytes, *headers: bytes) -> str:
    """Send one request as bytes; the answer's status line (the connection may stay open:
    a WebSocket)."""
    where = urlsplit(base)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall(
            request_line + b"\r\nHost: 127.0.0.1\r\n"
            + b"".join(header + b"\r\n" for header in headers) + b"\r\n"
        )  # fmt: skip
        answer = b""
        while b"\r\n" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
    return answer.split(b"\r\n", 1)[0].decode("latin-1")


def test_a_clients_daphne_root_path_is_ignored(base):
    """daphne took `root_path` from any client's Daphne-Root-Path header: a prefix the
    path does not start with made channels' URLRouter raise "No route found" (a traceback
    and a 500 refusal of every WebSocket), a non-ASCII one failed daphne's decoding (a
    500 for HTTP). apps.core.proxies.ignore_client_root_path drops the header."""
    websocket = (
        b"Upgrade: websocket",
        b"Connection: Upgrade",
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        b"Sec-WebSocket-Version: 13",
    )
    status = _head(base, b"GET /ws/signals/live HTTP/1.1", *websocket, b"Daphne-Root-Path: /x")
    assert status == "HTTP/1.1 101 Switching Protocols"
    for value in (b"\xc3\xa9", b"/api"):
        status, _, body = _raw(
            base, b"GET /api/v1/stations HTTP/1.1", b"Daphne-Root-Path: " + value
        )
        assert (status, json.loads(body)["error"]["code"]) == (401, "AUTHENTICATION_REQUIRED")


@pytest.mark.parametrize(
    "target, host, status, code",
    [
        (b"http://127.0.0.1/api/v1/stations?page=1", b"127.0.0.1", 401, "AUTHENTICATION_REQUIRED"),
        (b"HTTP://user@127.0.0.1:80/api/v1/stations", b"elsewhere", 401, "AUTHENTICATION_REQUIRED"),
        # The target's host is the one judged (ALLOWED_HOSTS here: 127.0.0.1), not Host.
        (b"http://evil.example/api/v1/stations", b"127.0.0.1", 400, "BAD_REQUEST"),
        (b"http://127.0.0.1?x=1", b"127.0.0.1", 302, None),  # the console's root: log in
    ],
    ids=["api", "upper-case scheme, userinfo, other Host", "host not allowed", "no path"],
)  # fmt: skip
def test_an_absolute_form_target_is_served_as_its_path(base, target, host, status, code):
    """RFC 9112 §3.2.2: a server must accept `GET http://host/path HTTP/1.1` (what a
    client configured for a proxy sends). Twisted and daphne took the whole target for
    the path: every such request was the console's HTML 404."""
    status_code, headers, body = _raw(
        base, b"GET " + target + b" HTTP/1.1", b"Accept: application/json", host=host
    )
    assert status_code == status, body
    if status == 400:  # the field named, not ALLOWED_HOSTS
        assert json.loads(body)["error"] == {
            **json.loads(body)["error"],
            "code": code,
            "message": "Host 'evil.example' is not served here.",
            "details": {"field": "Host", "value": "evil.example"},
        }
    elif code is not None:
        assert json.loads(body)["error"]["code"] == code
    else:
        assert headers["location"] == "/login?next=/%3Fx%3D1"
