"""Request bodies past their limit under a real daphne: never stored, answered 413 in the
envelope (apps/core/daphne_requests.py).

Twisted spools a body whole before daphne or Django see the request; a body past the
path's limit (16 MiB for the API; HEIMDALL_RECORDING_MAX_BYTES for uploads) is now
received and dropped. Mid-upload the test looks at the server's open files: none has
grown with the body.
"""

import contextlib
import json
import os
import socket
import stat
import time
import uuid

import httpx
import pytest
from django.db import connection
from rest_framework_simplejwt.tokens import RefreshToken

from tests.helpers import database_url, make_user
from tests.servers import daphne

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

MIB = 2**20


def _largest_open_file(pid: int) -> int:
    """The size in bytes of the largest regular file the process has open (deleted ones,
    such as Twisted's spool, included)."""
    largest = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            info = os.stat(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if stat.S_ISREG(info.st_mode):
            largest = max(largest, info.st_size)
    return largest


def _body(pid: int, total: int, seen: list[int]):
    """`total` bytes in 1 MiB pieces; halfway, the server's largest open file is noted."""
    piece = b"x" * MIB
    for sent in range(0, total, MIB):
        if sent == total // 2:
            time.sleep(0.5)  # the server has read what was sent so far
            seen.append(_largest_open_file(pid))
        yield piece[: min(MIB, total - sent)]


@contextlib.contextmanager
def _serve(tmp_path, **limits):
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,host",
        "HEIMDALL_PROCESS": "web",
        "HEIMDALL_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "HEIMDALL_RECORDING_MAX_BYTES": str(8 * MIB),
        **{name: str(value) for name, value in limits.items()},
    }
    token = str(RefreshToken.for_user(make_user("otto", "operator")).access_token)
    with (
        daphne(env, tmp_path / "daphne.log") as (base, process),
        httpx.Client(base_url=base, timeout=120, headers={"Authorization": f"Bearer {token}"})
        as client,
    ):  # fmt: skip
        yield client, process.popen.pid


@pytest.fixture
def server(tmp_path):
    with _serve(tmp_path) as served:
        yield served


def _assert_413(response: httpx.Response, limit: int) -> int:
    """The 413's checks; the size it says the body had."""
    assert response.status_code == 413, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "PAYLOAD_TOO_LARGE"
    details = error["details"]
    assert (details["field"], details["constraint"]) == ("body", f"at most {limit} bytes")
    assert error["request_id"] == response.headers["X-Request-ID"]
    return details["value"]


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_an_api_body_past_16_mib_is_dropped_unstored_and_answered_413(server, declared):
    client, pid = server
    total, seen = 40 * MIB, []
    headers = {"Content-Type": "application/json"}
    if declared:
        headers["Content-Length"] = str(total)
    response = client.post(
        "/api/v1/signals/detections", content=_body(pid, total, seen), headers=headers
    )
    limit = 16 * MIB
    size = _assert_413(response, limit)
    if declared:
        assert size == total
    else:  # the bytes received when it passed the limit (one network read past it)
        assert limit < size <= limit + MIB
    assert seen and seen[0] < MIB, f"the server had {seen[0]} bytes of the body on file"


def test_an_upload_past_the_recording_limit_is_dropped_unstored_and_answered_413(server):
    client, pid = server
    total, seen = 24 * MIB, []
    boundary = uuid.uuid4().hex

    def multipart():
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"data\"; "
               f"filename=\"big.sigmf-data\"\r\n\r\n").encode()  # fmt: skip
        yield from _body(pid, total, seen)
        yield f"\r\n--{boundary}--\r\n".encode()

    response = client.post(
        "/api/v1/recordings",
        content=multipart(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert _assert_413(response, 8 * MIB) > 8 * MIB
    assert seen and seen[0] < MIB, f"the server had {seen[0]} bytes of the body on file"


def _raw_exchange(
    client: httpx.Client, pid: int, head: str, total: int, seen: list[int], then: str
) -> list[tuple[int, dict]]:
    """One connection: `head` (a request's line and headers, chunked), `total` bytes of
    body, then the request `then`; the (status, JSON) of each answer, in order."""
    host, port = client.base_url.host, client.base_url.port
    token = client.headers["Authorization"]
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.sendall(f"{head}Authorization: {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
                     .encode())  # fmt: skip
        for piece in _body(pid, total, seen):
            sock.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
        sock.sendall(b"0\r\n\r\n" + f"{then}Authorization: {token}\r\n\r\n".encode())
        answers, stream = [], sock.makefile("rb")
        for _ in range(2):
            status = int(stream.readline().split()[1])
            headers = {}
            while (line := stream.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = stream.read(int(headers["content-length"]))
            answers.append((status, json.loads(body)))
        return answers


@pytest.mark.parametrize(
    "target",
    ["//x/api/v1/recordings", "/api/v1/recordings#x"],
    ids=["double-slash", "fragment"],
)
def test_the_limit_while_receiving_is_the_one_django_applies_to_the_target(tmp_path, target):
    """Django's path is daphne's: the origin-form target up to `?`, percent-decoded. For
    Django these targets are not the upload path (their limit: HEIMDALL_MAX_REQUEST_BYTES,
    1 MiB here), but urlsplit read them as /api/v1/recordings: the body was stored up to the upload
    limit (8 MiB here, 4 GiB by default) and reached Django (404). Now dropped past 1 MiB,
    the 413 in the envelope, and the same connection carries on."""
    with _serve(tmp_path, HEIMDALL_MAX_REQUEST_BYTES=MIB) as (client, pid):
        seen: list[int] = []
        then = "GET /api/v1/stations HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        head = f"POST {target} HTTP/1.1\r\nHost: host\r\nContent-Type: application/json\r\n"
        (status, answer), (next_status, _) = _raw_exchange(client, pid, head, 4 * MIB, seen, then)
        assert status == 413, answer
        assert answer["error"]["details"]["constraint"] == f"at most {MIB} bytes"
        assert MIB < answer["error"]["details"]["value"] <= 2 * MIB
        assert seen and seen[0] < MIB, f"the server had {seen[0]} bytes of the body on file"
        assert next_status == 200
        # The upload path itself keeps its own limit: 4 MiB reaches the view (no meta: 400),
        # percent-encoded or in absolute-form (RFC 9112 §3.2.2: Django's path is
        # /api/v1/recordings, apps.core.daphne_requests.origin_form).
        for upload in ("/api/v1/%72ecordings?x=1", "http://host/api/v1/recordings"):
            head = (f"POST {upload} HTTP/1.1\r\nHost: host\r\n"
                    "Content-Type: multipart/form-data; boundary=b\r\n")  # fmt: skip
            (status, answer), (next_status, _) = _raw_exchange(client, pid, head, 4 * MIB, [], then)
            assert (status, answer["error"]["code"]) == (400, "VALIDATION_ERROR"), answer
            assert next_status == 200


def test_a_body_past_the_limit_awaiting_100_continue_is_answered_413_at_once(server):
    """`Expect: 100-continue` with a Content-Length past the limit: Twisted sent
    `100 Continue` and the client then sent all of it (100 GB here) to be dropped. Now the
    413 comes instead of the 100, and the connection closes after it; a body within the
    limit still gets its 100 Continue."""
    client, _ = server
    token = client.headers["Authorization"]
    head = ("POST /api/v1/signals/detections HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {token}\r\nContent-Type: application/json\r\n"
            "Expect: 100-continue\r\n")  # fmt: skip
    host, port = client.base_url.host, client.base_url.port
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(f"{head}Content-Length: {100 * 2**30}\r\n\r\n".encode())
        stream = sock.makefile("rb")
        assert stream.readline() == b"HTTP/1.1 413 Request Entity Too Large\r\n"
        headers = {}
        while (line := stream.readline()) != b"\r\n":
            name, _, value = line.decode().partition(":")
            headers[name.strip().lower()] = value.strip()
        assert headers["connection"] == "close"
        answer = json.loads(stream.read(int(headers["content-length"])))
        assert answer["error"]["details"]["value"] == 100 * 2**30
        assert answer["error"]["request_id"] == headers["x-request-id"]
        assert stream.read() == b""  # closed
    body = b'{"detections": []}'
    with socket.create_connection((host, port), timeout=30) as sock:
        sock.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode())
        stream = sock.makefile("rb")
        assert stream.readline() == b"HTTP/1.1 100 Continue\r\n"
        assert stream.readline() == b"\r\n"
        sock.sendall(body)
        assert stream.readline() == b"HTTP/1.1 400 Bad Request\r\n"
