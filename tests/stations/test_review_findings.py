"""Faults found by review of issue 12's kinds on the stations API (one test per finding)."""

import threading

import pytest
from django.db import connections

from apps.stations.models import Station
from tests.helpers import assert_envelope, client_for

STATION = {
    "id": "race-st",
    "name": "Race",
    "url": "http://example.org/",
    "latitude": 52.0,
    "longitude": 6.0,
    "frequency_min": 1000,
    "frequency_max": 30_000_000,
    "api_config": {"api_type": "simulated"},
}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_creates_of_one_station_id_are_one_201_and_409s_never_500(admin_user):
    # Found: 6 concurrent POSTs of one id gave 201, 4 × 409 and one 500 (IntegrityError
    # on the primary key: the existence check and the insert raced).
    count = 8
    barrier = threading.Barrier(count)
    responses = [None] * count

    def create(index):
        client = client_for(admin_user)
        barrier.wait(timeout=10)
        try:
            responses[index] = client.post("/api/v1/stations", STATION, format="json")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in responses) == [201] + [409] * (count - 1)
    for response in responses:
        if response.status_code == 409:
            assert_envelope(response, 409, "CONFLICT")
            assert response.json()["error"]["details"]["field"] == "id"
    assert Station.objects.filter(pk="race-st").count() == 1
