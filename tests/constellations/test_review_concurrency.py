"""Unique things created by concurrent requests (threads with their own PostgreSQL
connections, released together): one 201, the rest 409 in the envelope, never a 500."""

import pytest

from apps.constellations.models import ConstellationMember, ConstellationShare, ReferenceTransmitter
from apps.ml.models import MLModel
from tests.constellations.factories import ConstellationFactory
from tests.helpers import assert_envelope, client_for, make_user
from tests.helpers import together as run_together
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
COUNT = 8


def together(user, method: str, path: str, body: dict) -> list:
    """COUNT clients of `user` sending the same request at once."""
    clients = [client_for(user) for _ in range(COUNT)]
    return run_together(
        [lambda c=c: getattr(c, method)(path, body, format="json") for c in clients]
    )


def assert_one_created(responses, field: str):
    assert sorted(r.status_code for r in responses) == [201] + [409] * (COUNT - 1), [
        r.content[:200] for r in responses if r.status_code not in (201, 409)
    ]
    for response in responses:
        if response.status_code == 409:
            assert_envelope(response, 409, "CONFLICT", field)


def test_concurrent_member_adds_of_one_station():
    owner = make_user("olga", "operator")
    constellation = ConstellationFactory(owner=owner)
    StationFactory(id="torino-it")
    responses = together(owner, "post", f"/api/v1/constellations/{constellation.pk}/members",
                         {"websdr_station_id": "torino-it"})  # fmt: skip
    assert_one_created(responses, "websdr_station_id")
    assert ConstellationMember.objects.filter(constellation=constellation).count() == 1


def test_concurrent_shares_with_one_user():
    owner = make_user("olga", "operator")
    viewer = make_user("vera", "viewer")
    constellation = ConstellationFactory(owner=owner)
    responses = together(owner, "post", f"/api/v1/constellations/{constellation.pk}/shares",
                         {"user_id": str(viewer.pk), "permission": "read"})  # fmt: skip
    assert_one_created(responses, "user_id")
    assert ConstellationShare.objects.filter(constellation=constellation).count() == 1


def test_concurrent_reference_transmitters_with_one_name():
    admin = make_user("ada", "admin")
    body = {"name": "Beacon", "latitude": 45.0, "longitude": 7.0, "frequency_hz": 145_000_000,
            "tx_power_dbm": 30.0}  # fmt: skip
    responses = together(admin, "post", "/api/v1/reference-transmitters", body)
    assert_one_created(responses, "name")
    assert ReferenceTransmitter.objects.count() == 1


def test_concurrent_registry_models_with_one_name_and_version():
    operator = make_user("otto", "operator")
    body = {"name": "race", "version": "1.0.0", "model_type": "anomaly_detection",
            "architecture": "gaussian_mixture"}  # fmt: skip
    before = MLModel.objects.count()
    responses = together(operator, "post", "/api/v1/models", body)
    assert_one_created(responses, "version")
    assert MLModel.objects.count() == before + 1
