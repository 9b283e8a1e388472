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


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("field", "value"),
    [
        # Found: accepted (201), though no collector can open them.
        ("url", "ftp://example.org/"),
        ("url", "http://example.org:0/"),
        ("api_config.stream_url", "not a url"),
        ("api_config.stream_url", "ftp://x/"),
        ("api_config.stream_url", "http://[::1"),
        ("api_config.stream_url", "http://exa mple/"),
        ("api_config.stream_url", " "),
        ("api_config.stream_url", "http://[fe80::1%25eth0]:8073/"),
        # Found (audit of issue 12): hosts no browser reads as an IPv4 address were
        # accepted and left to fail as DNS names in the collector.
        ("api_config.stream_url", "http://999.1.1.1:8073/"),
        ("api_config.stream_url", "http://1.2.3.4.5/"),
        # Found: 10**18 Hz (beyond every band Heimdall ingests) accepted.
        ("api_config.frequency_hz", 10**18),
    ],
)
def test_station_urls_a_browser_cannot_open_are_refused(admin_client, field, value):
    body = {**STATION, "api_config": {"api_type": "openwebrx"}}
    if field.startswith("api_config."):
        body["api_config"][field.split(".", 1)[1]] = value
    else:
        body[field] = value
    response = admin_client.post("/api/v1/stations", body, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert not Station.objects.filter(pk="race-st").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    ["http://[::1]:8073/", "https://owrx.example.org/sdr/", "http://münchen.de:8073/",
     "ws://kiwi.example.org:8073/", "wss://host.example.org/ws/?key=1"],
)  # fmt: skip
def test_station_urls_a_browser_can_open_are_accepted_as_stream_urls(admin_client, url):
    body = {**STATION, "api_config": {"api_type": "openwebrx", "stream_url": url}}
    response = admin_client.post("/api/v1/stations", body, format="json")
    assert response.status_code == 201, response.content
    assert Station.objects.get(pk="race-st").api_config["stream_url"] == url
