"""Constellation list benchmark (issue 4): a user who sees 10,000 of 100,000 constellations.

    .venv/bin/python bench/constellations.py            # full size
    .venv/bin/python bench/constellations.py --total 10000 --visible 1000   # quick

Own database (`heimdall_bench_constellations`), recreated each run. Prints a
Markdown table for docs/performance.md. Times are the server's own
(Server-Timing), through the whole middleware and JWT stack.
"""

import argparse
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchdb import recreate_database, use_database  # noqa: E402

BENCH_DB = "heimdall_bench_constellations"
use_database(BENCH_DB)
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "heimdall.settings")
os.environ.setdefault("HEIMDALL_RATE_LIMIT_USER", "1000000/min")
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")


def populate(total: int, visible: int, owners: int) -> None:
    from django.contrib.auth.models import Permission
    from django.db import connection

    from apps.accounts.services import user_create
    from apps.constellations.models import (
        Constellation,
        ConstellationMember,
        ConstellationShare,
        ConstellationUserObjectPermission,
    )
    from apps.stations.models import Station

    rng = random.Random(3)
    target = user_create(username="bench-user", password="bench-pass-1", role="operator",
                         validate=False)  # fmt: skip
    others = [user_create(username=f"owner-{n}", password="x", role="operator", validate=False)
              for n in range(owners)]  # fmt: skip
    stations = [
        Station.objects.create(id=f"st-{n}", name=f"st-{n}", url="http://example.org/",
                               latitude=45, longitude=8, frequency_min=0, frequency_max=10**9)
        for n in range(30)
    ]  # fmt: skip
    perms = {
        p.codename: p for p in Permission.objects.filter(content_type__app_label="constellations")
    }
    owner_perms = [perms[c] for c in ("view_constellation", "change_constellation",
                                      "delete_constellation", "share_constellation")]  # fmt: skip
    owned_by_target = visible // 2
    shared_with_target = visible - owned_by_target
    constellations = []
    for index in range(total):
        owner = target if index < owned_by_target else others[index % owners]
        constellations.append(Constellation(id=uuid.uuid4(), owner=owner, name=f"net-{index}"))
    Constellation.objects.bulk_create(constellations, batch_size=5000)
    perm_rows, members, shares = [], [], []
    for index, constellation in enumerate(constellations):
        for permission in owner_perms:
            perm_rows.append(
                ConstellationUserObjectPermission(
                    content_object=constellation,
                    user_id=constellation.owner_id,
                    permission=permission,
                )
            )
        for station in rng.sample(stations, 3):
            members.append(ConstellationMember(constellation=constellation, station=station))
        if owned_by_target <= index < owned_by_target + shared_with_target:
            shares.append(ConstellationShare(constellation=constellation, user=target,
                                             permission="read"))  # fmt: skip
            perm_rows.append(
                ConstellationUserObjectPermission(
                    content_object=constellation,
                    user=target,
                    permission=perms["view_constellation"],
                )
            )
    ConstellationUserObjectPermission.objects.bulk_create(perm_rows, batch_size=10000)
    ConstellationMember.objects.bulk_create(members, batch_size=10000)
    ConstellationShare.objects.bulk_create(shares, batch_size=10000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=100_000)
    parser.add_argument("--visible", type=int, default=10_000)
    parser.add_argument("--owners", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()

    recreate_database(BENCH_DB)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from rest_framework.test import APIClient

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    populate(args.total, args.visible, args.owners)
    print(f"populated in {time.perf_counter() - started:.0f} s", flush=True)

    client = APIClient()
    credentials = {"username": "bench-user", "password": "bench-pass-1"}
    login = client.post("/api/v1/auth/login", credentials, format="json")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {login.json()['access_token']}")
    rows = []
    for limit in (10, 50, 200):
        for skip in (0, args.visible // 2):
            params = {"skip": skip, "limit": limit}
            first = client.get("/api/v1/constellations", params)
            assert first.json()["pagination"]["total"] == args.visible, first.json()["pagination"]
            executed: list[str] = []

            def count(run, sql, *rest, executed=executed):
                executed.append(sql)
                return run(sql, *rest)

            # Counted at execution: the test client's request_started signal
            # resets connection.queries, so CaptureQueriesContext sees none.
            with connection.execute_wrapper(count):
                client.get("/api/v1/constellations", params)
            times = []
            for _ in range(args.repeat):
                response = client.get("/api/v1/constellations", params)
                times.append(float(response["Server-Timing"].split("dur=")[1]))
            times.sort()
            rows.append((limit, skip, statistics.median(times), times[int(0.95 * len(times))],
                         len(executed)))  # fmt: skip
    print(f"\n{args.visible:,} visible of {args.total:,} constellations "
          f"({args.total * 3:,} members), {os.cpu_count()} cores\n")  # fmt: skip
    print("| limit | skip | p50 | p95 | SQL queries | target |")
    print("|---|---|---|---|---|---|")
    for limit, skip, p50, p95, count in rows:
        print(f"| {limit} | {skip:,} | {p50:.1f} ms | {p95:.1f} ms | {count} | p50 ≤ 50 ms |")


if __name__ == "__main__":
    main()
