"""Concurrent ingests through the streamed COPY and the comparing path (a review of the
streamed ingest found the first one answering 503)."""

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection, connections

from apps.core.timeutil import utc_now
from apps.signals import services
from apps.signals.models import DetectionKey, SignalDetection
from tests.helpers import at_once, client_for
from tests.signals.factories import DetectionFactory
from tests.stations.factories import StationFactory

URL = "/api/v1/signals/detections"


def _someone_waits_for_a_lock() -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
        return cursor.fetchone()[0] > 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_optimistic_batch_and_comparing_batch_sharing_a_new_id(operator_user, monkeypatch):
    """A streams its rows (new id X among them) and has not yet COPYed its keys; B holds a
    stored id S (sorted before X) and X. B's COPY meets S, B takes the comparing path:
    it inserts key X, then COPYs row X, which waits for A's uncommitted row X. A then
    COPYs key X, which waits for B's key X: a deadlock. The contract: both 201, X stored
    once (one ingests it, the other counts a duplicate)."""
    StationFactory(id="twente-nl")
    now = utc_now()
    s_id = "00000000-0000-4000-8000-" + uuid.uuid4().hex[:12]
    x_id = "ffffffff-0000-4000-8000-" + uuid.uuid4().hex[:12]
    stored = DetectionFactory(when=now - timedelta(minutes=5), id=s_id)
    services.detection_ingest(detections=[stored])
    x = DetectionFactory(when=now - timedelta(minutes=1), id=x_id)
    a_items = [x] + [DetectionFactory(when=now - timedelta(seconds=i)) for i in range(20)]
    b_items = [stored, x]

    original = services._copy_keys
    b_started = threading.Event()

    def slow_copy_keys(rows):
        if threading.current_thread().name == "A":
            b_started.set()
            deadline = time.monotonic() + 10
            while not _someone_waits_for_a_lock() and time.monotonic() < deadline:
                time.sleep(0.02)
        return original(rows)

    monkeypatch.setattr(services, "_copy_keys", slow_copy_keys)
    clients = {"A": client_for(operator_user), "B": client_for(operator_user)}
    results = {}

    def send(name, items):
        if name == "B":
            b_started.wait(10)
        try:
            results[name] = clients[name].post(URL, {"detections": items}, format="json")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=send, args=("A", a_items), name="A"),
        threading.Thread(target=send, args=("B", b_items), name="B"),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = {name: r.status_code for name, r in results.items()}
    assert statuses == {"A": 201, "B": 201}, {n: r.content for n, r in results.items()}
    assert SignalDetection.objects.filter(pk=x_id).count() == 1
    assert SignalDetection.objects.count() == DetectionKey.objects.count() == 22


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_overlapping_batches_with_stored_ids_and_small_chunks(operator_user, small_chunks):
    """Six overlapping batches, each holding some already-stored ids and new ids shared
    with the others, in chunks of three: all 201, each id once."""
    StationFactory(id="twente-nl")
    now = utc_now()
    items = [DetectionFactory(when=now - timedelta(seconds=i)) for i in range(60)]
    services.detection_ingest(detections=items[::7])
    bodies = [{"detections": items[n * 8 : n * 8 + 24][:: -1 if n % 2 else 1]} for n in range(6)]
    clients = [client_for(operator_user) for _ in bodies]
    responses = at_once(clients, URL, bodies)
    assert [r.status_code for r in responses] == [201] * 6, [r.content for r in responses]
    covered = {item["id"] for body in bodies for item in body["detections"]} | {
        item["id"] for item in items[::7]
    }
    assert SignalDetection.objects.count() == DetectionKey.objects.count() == len(covered)
