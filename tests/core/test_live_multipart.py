"""Request bodies under a real daphne are Django's to parse, not Twisted's
(apps/core/daphne_requests.py): a multipart body Twisted's `email` parser cannot read
was answered with a bare `400 Bad Request` — no envelope, no X-Request-ID (found by
`make fuzz` on POST /api/v1/recordings) — and every multipart upload was read whole into
memory before Django saw it."""

import json
import os
import urllib.error
import urllib.request

import pytest
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from tests.helpers import database_url, make_user
from tests.servers import daphne

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
BOUNDARY = "c637e12e2b1a998d80d1b087531af51c"


def _post(url: str, body: bytes, content_type: str, token: str):
    request = urllib.request.Request(
        url, data=body, method="POST",
        headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers, err.read()


@pytest.mark.parametrize(
    ("body", "content_type", "field"),
    [
        # only the closing delimiter: Twisted's parser gave up on it
        (f"--{BOUNDARY}--\r\n".encode(), f"multipart/form-data; boundary={BOUNDARY}", "meta"),
        # a part whose headers never end
        (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"meta\"".encode(),
         f"multipart/form-data; boundary={BOUNDARY}", None),
        # no boundary at all
        (b"meta=1", "multipart/form-data", None),
    ],
)  # fmt: skip
def test_malformed_multipart_bodies_get_the_envelope(tmp_path, body, content_type, field):
    token = str(AccessToken.for_user(make_user("uploader", "operator")))
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
    }
    with daphne(env, tmp_path / "daphne.log") as (base, _):
        status, headers, raw = _post(f"{base}/api/v1/recordings", body, content_type, token)
    assert status == 400, raw
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Request-ID"]
    error = json.loads(raw)["error"]
    assert error["code"] in ("VALIDATION_ERROR", "BAD_REQUEST")
    if field:
        assert error["details"]["field"] == field
