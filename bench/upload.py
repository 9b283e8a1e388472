"""SigMF upload through the real server (issue 17: "streamed to disk (a 2 GB file must not
be read into memory)"): the web process's peak memory for a small and a 2 GiB upload.

    /work/tools/wtenv python bench/upload.py                 # 64 MiB and 2 GiB
    /work/tools/wtenv python bench/upload.py --mib 64 512    # quicker

Writes `ci16_le` recordings (a 16 MiB block of noise repeated; the `core:sha512` of
the whole file in the metadata), starts one daphne process as the Procfile's `web`
line runs it, on its own database (`heimdall_bench_upload`, recreated) and artifact
folder, and POSTs each file to `/api/v1/recordings` as an operator would (multipart
`meta` + `data`, sent by httpx from the open file, 64 KiB at a time: the client holds
no file either). Reported per file: the upload's time and rate, and the server's peak
resident memory (VmHWM from /proc/<pid>/status) above what it was before that upload.
Flat means the 2 GiB upload needs no more memory than the small one. The server
verifies the metadata's `core:sha512` against what it stored (a 201 says it matched).
"""

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchdb import recreate_database, use_database  # noqa: E402

BENCH_DB = os.environ.get("HEIMDALL_BENCH_DB", "heimdall_bench_upload")
use_database(BENCH_DB)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heimdall.settings")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost")
PASSWORD = "bench-password-1"
BLOCK = 16 * 2**20


def write_recording(folder: Path, mib: int) -> tuple[Path, Path]:
    """A `mib` MiB ci16_le data file and its metadata (with the data's SHA-512)."""
    rng = np.random.default_rng(0)
    block = np.round(rng.standard_normal(BLOCK // 2) * 300).astype("<i2").tobytes()
    digest = hashlib.sha512()
    data = folder / f"upload-{mib}.sigmf-data"
    with open(data, "wb") as handle:
        left = mib * 2**20
        while left:
            piece = block[: min(left, BLOCK)]
            digest.update(piece)
            handle.write(piece)
            left -= len(piece)
    when = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    meta = folder / f"upload-{mib}.sigmf-meta"
    meta.write_text(json.dumps({
        "global": {"core:datatype": "ci16_le", "core:sample_rate": 2_400_000,
                   "core:version": "1.2.0", "core:sha512": digest.hexdigest()},
        "captures": [{"core:sample_start": 0, "core:frequency": 145_000_000,
                      "core:datetime": when.isoformat().replace("+00:00", "Z")}],
        "annotations": [],
    }))  # fmt: skip
    return meta, data


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def reset_peak(pid: int) -> None:
    """Start VmHWM afresh (Linux ≥ 4.0: writing 5 to clear_refs resets the peak)."""
    with open(f"/proc/{pid}/clear_refs", "w") as handle:
        handle.write("5")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, nargs="+", default=[64, 2048])
    args = parser.parse_args()

    import httpx

    recreate_database(BENCH_DB)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from apps.accounts.services import user_create
    from apps.stations.models import Station

    Station.objects.create(id="bench-vhf", name="bench", url="http://example.org/",
                           latitude=52.0, longitude=6.0, frequency_min=100_000_000,
                           frequency_max=200_000_000)  # fmt: skip
    user_create(username="bench-op", password=PASSWORD, role="operator", validate=False)

    rows = []
    with tempfile.TemporaryDirectory() as folder:
        port = free_port()
        env = {**os.environ, "HEIMDALL_PROCESS": "web",
               "HEIMDALL_ARTIFACT_ROOT": str(Path(folder) / "artifacts"),
               "HEIMDALL_RECORDING_MAX_BYTES": str(4 * 2**30)}  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
             "heimdall.asgi:application"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}/api/v1"
        try:
            with httpx.Client(timeout=600) as client:
                for _ in range(200):
                    try:
                        login = client.post(
                            f"{base}/auth/login",
                            json={"username": "bench-op", "password": PASSWORD},
                        )
                        break  # fmt: skip
                    except httpx.TransportError:
                        time.sleep(0.1)
                assert login.status_code == 200, login.text[:300]
                client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
                assert client.get(f"{base}/recordings").status_code == 200  # warm
                for mib in args.mib:
                    meta_path, data_path = write_recording(Path(folder), mib)
                    reset_peak(server.pid)
                    before = memory_kib(server.pid, "VmRSS")
                    started = time.perf_counter()
                    with open(meta_path, "rb") as meta, open(data_path, "rb") as data:
                        response = client.post(
                            f"{base}/recordings",
                            data={"websdr_station_id": "bench-vhf"},
                            files={"meta": (meta_path.name, meta), "data": (data_path.name, data)},
                        )
                    seconds = time.perf_counter() - started
                    assert response.status_code == 201, response.text[:500]
                    peak = memory_kib(server.pid, "VmHWM")
                    recording = response.json()
                    data_path.unlink()
                    rows.append((mib, seconds, (peak - before) / 1024, before / 1024, recording))
                    grown = (peak - before) / 1024
                    print(f"{mib} MiB: {seconds:.1f} s, server peak RSS +{grown:.0f} MiB over "
                          f"{before / 1024:.0f} MiB", flush=True)  # fmt: skip
        finally:
            server.terminate()
            server.wait(timeout=30)

    print()
    print(f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, one daphne "
          "process; httpx client in another process.")  # fmt: skip
    print()
    print("| upload (meta + ci16_le data) | time | rate | server RSS before | "
          "server peak RSS during the upload, above before |")  # fmt: skip
    print("|---|---|---|---|---|")
    for mib, seconds, peak, before, _ in rows:
        print(f"| {mib:,} MiB | {seconds:.1f} s | {mib / seconds:,.0f} MiB/s | {before:.0f} MiB | "
              f"**+{peak:.0f} MiB** |")  # fmt: skip


if __name__ == "__main__":
    main()
