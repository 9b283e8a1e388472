"""A large SigMF upload through a real daphne process: streamed to disk, never held in the
web process's memory (issue 17: "a 2 GB file must not be read into memory").

daphne puts a request's whole body into the application's queue at once; Heimdall's
queue keeps only where the body lies in Twisted's temporary file
(apps/core/daphne_requests.py). bench/upload.py measures 2 GiB; here 48 MiB, against
the server's peak resident memory (VmHWM, reset before the upload) and what it read
(/proc/<pid>/io).
"""

import hashlib
import os

import httpx
import numpy as np
import pytest
from django.db import connection
from rest_framework_simplejwt.tokens import RefreshToken

from tests.helpers import database_url, make_user
from tests.recordings.factories import write_recording
from tests.servers import daphne
from tests.stations.factories import StationFactory

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

MIB = 2**20


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def _io(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/io") as io:
        return {name: int(value) for name, value in (line.split(": ") for line in io)}


def _upload(client: httpx.Client, base: str, meta, data) -> httpx.Response:
    with open(meta, "rb") as meta_file, open(data, "rb") as data_file:
        return client.post(
            f"{base}/api/v1/recordings",
            data={"websdr_station_id": "twente-nl"},
            files={"meta": (meta.name, meta_file), "data": (data.name, data_file)},
        )


def test_a_48_mib_upload_does_not_grow_the_web_process_by_its_size(tmp_path):
    StationFactory(id="twente-nl")
    token = str(RefreshToken.for_user(make_user("otto", "operator")).access_token)
    small = write_recording(tmp_path / "small", name="small", seconds=0.5)
    n = 12 * MIB  # ci16_le: 4 bytes a sample, 48 MiB
    large = write_recording(
        tmp_path / "large", name="large", sample_rate=2_400_000, seconds=n / 2_400_000,
        samples=np.full(n, 0.01 + 0.02j, dtype=np.complex64),
    )  # fmt: skip
    env = {
        **os.environ,
        "DATABASE_URL": database_url(connection.settings_dict),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "HEIMDALL_PROCESS": "web",
        "HEIMDALL_ARTIFACT_ROOT": str(tmp_path / "artifacts"),
    }
    with (
        daphne(env, tmp_path / "daphne.log") as (base, server),
        httpx.Client(timeout=120, headers={"Authorization": f"Bearer {token}"}) as client,
    ):
        pid = server.popen.pid
        assert _upload(client, base, *small).status_code == 201  # imports, caches: warm
        with open(f"/proc/{pid}/clear_refs", "w") as clear:
            clear.write("5")  # VmHWM starts afresh (Linux >= 4.0)
        before, io_before = _status_kib(pid, "VmRSS"), _io(pid)
        response = _upload(client, base, *large)
        grown_mib = (_status_kib(pid, "VmHWM") - before) / 1024
        io_after = _io(pid)

    assert response.status_code == 201, response.text[:500]
    body = response.json()
    assert (body["data_bytes"], body["sample_count"]) == (48 * MIB, n)
    assert body["data_sha512"] == hashlib.sha512(large[1].read_bytes()).hexdigest()
    # The body held in memory would be 48 MiB and more (before the queue: +50 MiB).
    assert grown_mib < 16, f"the server's peak memory grew by {grown_mib:.0f} MiB"
    # The body is read three times in all: from the socket, back from Twisted's spool (1 MiB
    # at a time), and by the upload's checks. daphne also read the spool itself, 8 KiB at
    # a time on the event loop, before the application did (6,144 reads for 48 MiB, which
    # held every other connection: a 1 GiB upload stalled /health for over a second):
    # measured 192 MiB and 7,019 reads before, 144 MiB and 873 reads now.
    read_mib = (io_after["rchar"] - io_before["rchar"]) / MIB
    reads = io_after["syscr"] - io_before["syscr"]
    assert read_mib < 3.5 * 48, f"the server read {read_mib:.0f} MiB for a 48 MiB body"
    assert reads < 3000, f"the server made {reads} reads for a 48 MiB body"
