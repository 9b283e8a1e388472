"""Request bodies past their limit under a real daphne: never stored, answered 413 in the
envelope (apps/core/daphne_requests.py).

Twisted spools a body whole before daphne or Django see the request; a body past the
path's limit (16 MiB for the API; HEIMDALL_RECORDING_MAX_BYTES for uploads) is now
received and dropped. Mid-upload the test looks at the server's open files: none has
grown with the body.
"""

import os
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


@pytest.fixture
def server(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "HEIMDALL_PROCESS": "web",
        "HEIMDALL_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
        "HEIMDALL_RECORDING_MAX_BYTES": str(8 * MIB),
    }
    token = str(RefreshToken.for_user(make_user("otto", "operator")).access_token)
    with (
        daphne(env, tmp_path / "daphne.log") as (base, process),
        httpx.Client(base_url=base, timeout=120, headers={"Authorization": f"Bearer {token}"})
        as client,
    ):  # fmt: skip
        yield client, process.popen.pid


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
