"""PATCH merges JSON objects (RFC 7396), PUT replaces them (issue 12 §3)."""

import threading

import pytest
from django.db import connection

from apps.core.merge import json_merge_patch
from apps.stations.models import Station
from tests.helpers import assert_envelope, client_for
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
URL = "/api/v1/stations/kiwi-nl"
KIWI = {"api_type": "kiwisdr", "poll_interval": 1.0, "timeout": 30,
        "stream_url": "ws://kiwi.example.org:8073/", "frequency_hz": 14_200_000}  # fmt: skip


@pytest.fixture
def kiwi(db):
    return StationFactory(id="kiwi-nl", api_config=dict(KIWI))


# RFC 7396 appendix A, every example.
RFC_7396_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "result"), RFC_7396_EXAMPLES)
def test_json_merge_patch_follows_rfc_7396(target, patch, result):
    assert json_merge_patch(target, patch) == result


def test_patch_api_config_keeps_the_keys_not_sent(admin_client, kiwi):
    """The fault: stream_url and frequency_hz were silently dropped."""
    response = admin_client.patch(URL, {"api_config": {"api_type": "kiwisdr", "timeout": 10}},
                                  format="json")  # fmt: skip
    assert response.status_code == 200, response.content
    assert response.json()["api_config"] == {**KIWI, "timeout": 10}
    assert Station.objects.get().api_config == {**KIWI, "timeout": 10}


def test_patch_without_api_type_is_accepted(admin_client, kiwi):
    response = admin_client.patch(URL, {"api_config": {"timeout": 12}}, format="json")
    assert response.status_code == 200, response.content
    assert Station.objects.get().api_config == {**KIWI, "timeout": 12}


def test_patch_null_removes_a_key(admin_client, kiwi):
    response = admin_client.patch(URL, {"api_config": {"frequency_hz": None, "timeout": 5}},
                                  format="json")  # fmt: skip
    expected = {k: v for k, v in KIWI.items() if k != "frequency_hz"} | {"timeout": 5}
    assert response.json()["api_config"] == expected


@pytest.mark.parametrize(
    ("api_config", "field"),
    [
        ({"timeout": 0}, "api_config.timeout"),
        ({"api_type": None}, "api_config.api_type"),
        ({"api_type": "telegraph"}, "api_config.api_type"),
        ({"colour": "blue"}, "api_config.colour"),
        (None, "api_config"),
        ([1], "api_config"),
        ("kiwisdr", "api_config"),
    ],
)
def test_a_patch_that_makes_the_config_invalid_changes_nothing(admin_client, kiwi, api_config,
                                                                field):  # fmt: skip
    response = admin_client.patch(URL, {"api_config": api_config}, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert Station.objects.get().api_config == KIWI


def test_put_replaces_the_object(admin_client, kiwi):
    body = {"name": "Kiwi", "url": "http://kiwi.example.org:8073/", "latitude": 52.0,
            "longitude": 6.0, "frequency_min": 0, "frequency_max": 30_000_000,
            "api_config": {"api_type": "kiwisdr", "timeout": 10}}  # fmt: skip
    response = admin_client.put(URL, body, format="json")
    assert response.status_code == 200, response.content
    # The defaults plus what was sent: stream_url and frequency_hz are gone.
    assert Station.objects.get().api_config == {"api_type": "kiwisdr", "poll_interval": 1.0,
                                                "timeout": 10}  # fmt: skip


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_patches_of_different_keys_both_land(admin_user):
    StationFactory(id="kiwi-nl", api_config=dict(KIWI))
    clients = [client_for(admin_user), client_for(admin_user)]
    patches = [{"api_config": {"timeout": 11}}, {"api_config": {"poll_interval": 2.5}}]
    barrier = threading.Barrier(2)
    statuses = []

    def patch(client, body):
        barrier.wait()
        try:
            statuses.append(client.patch(URL, body, format="json").status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=patch, args=pair)
               for pair in zip(clients, patches, strict=True)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200, 200]
    assert Station.objects.get().api_config == {**KIWI, "timeout": 11, "poll_interval": 2.5}
