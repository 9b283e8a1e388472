"""API keys: minted once, stored hashed, capped by the creator's role, revoked at once."""

import hashlib
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from apps.accounts.models import ApiKey
from apps.core.timeutil import utc_now
from tests.helpers import assert_envelope, client_for, make_user

pytestmark = pytest.mark.django_db


def mint(client, **body):
    body.setdefault("name", "script")
    return client.post("/api/v1/auth/api-keys", body, format="json")


def with_key(key: str, header: str = "bearer") -> APIClient:
    client = APIClient()
    if header == "bearer":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    else:
        client.credentials(HTTP_X_API_KEY=key)
    return client


def test_created_key_is_shown_once_and_stored_hashed(operator_client, operator_user):
    response = mint(operator_client, name="collector box")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "role", "prefix", "user_id", "username", "created_at",
                         "expires_at", "last_used_at", "key"}  # fmt: skip
    key = body["key"]
    assert key.startswith("hmd_") and len(key) == 4 + 43
    assert body["prefix"] == key[:12]
    assert (body["name"], body["role"], body["username"]) == ("collector box", "operator", "otto")
    assert body["last_used_at"] is None and body["expires_at"] is None
    row = ApiKey.objects.get(pk=body["id"])
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert key not in {str(value) for value in row.__dict__.values()}
    listed = operator_client.get("/api/v1/auth/api-keys").json()
    assert [item["id"] for item in listed["data"]] == [body["id"]]
    assert "key" not in listed["data"][0]
    assert listed["pagination"] == {"skip": 0, "limit": 50, "total": 1}


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_key_authenticates_as_bearer_and_x_api_key(operator_client, header):
    key = mint(operator_client).json()["key"]
    client = with_key(key, header)
    me = client.get("/api/v1/auth/me").json()
    assert (me["username"], me["role"]) == ("otto", "operator")
    assert client.get("/api/v1/stations").status_code == 200


def test_a_viewer_cannot_mint_an_operator_key_and_nothing_is_written(viewer_client):
    response = mint(viewer_client, role="operator")
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "role")
    assert "viewer" in error["details"]["constraint"]
    assert_envelope(mint(viewer_client, role="collector"), 400, "VALIDATION_ERROR", "role")
    assert_envelope(mint(viewer_client, role="wizard"), 400, "VALIDATION_ERROR", "role")
    assert ApiKey.objects.count() == 0


def test_an_operator_may_mint_lower_keys_that_act_with_their_own_role(operator_client):
    viewer_key = mint(operator_client, name="read", role="viewer").json()
    assert viewer_key["role"] == "viewer"
    client = with_key(viewer_key["key"])
    assert client.get("/api/v1/auth/me").json()["role"] == "viewer"
    body = {"name": "c", "member_station_ids": []}
    assert_envelope(client.post("/api/v1/constellations", body, format="json"),
                    403, "PERMISSION_DENIED")  # fmt: skip
    collector = mint(operator_client, name="ingest", role="collector").json()
    assert collector["role"] == "collector"


def test_a_superusers_viewer_key_is_only_a_viewer(db):
    root = get_user_model().objects.create_superuser("root", "root@example.org", "pw-123456789")
    client = APIClient()
    client.force_authenticate(root)
    key = mint(client, role="viewer").json()["key"]
    keyed = with_key(key)
    assert keyed.get("/api/v1/auth/me").json()["role"] == "viewer"
    station = {"id": "x", "name": "X", "url": "http://x.example/", "latitude": 1,
               "longitude": 1, "frequency_min": 0, "frequency_max": 30_000_000}  # fmt: skip
    assert_envelope(keyed.post("/api/v1/stations", station, format="json"),
                    403, "PERMISSION_DENIED")  # fmt: skip


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "\u200b"}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 101}, "name"),
        ({}, "name"),
        ({"name": "ok", "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"name": "ok", "expires_at": "soon"}, "expires_at"),
    ],
)
def test_bad_requests_name_the_field_and_write_nothing(operator_client, body, field):
    response = operator_client.post("/api/v1/auth/api-keys", body, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert ApiKey.objects.count() == 0


def test_names_are_normalized_and_unique_among_a_users_live_keys(operator_client):
    first = mint(operator_client, name="  Cafe\u0301 ").json()
    assert first["name"] == "Café"
    assert_envelope(mint(operator_client, name="Café"), 409, "CONFLICT", "name")
    assert operator_client.delete(f"/api/v1/auth/api-keys/{first['id']}").status_code == 204
    assert mint(operator_client, name="Café").status_code == 201  # a revoked name is free


def test_expired_key_is_refused(operator_client):
    body = mint(operator_client, expires_at=(utc_now() + timedelta(hours=1)).isoformat()).json()
    client = with_key(body["key"])
    assert client.get("/api/v1/stations").status_code == 200
    ApiKey.objects.filter(pk=body["id"]).update(expires_at=utc_now() - timedelta(seconds=1))
    assert_envelope(client.get("/api/v1/stations"), 401, "INVALID_TOKEN")


def test_revocation_is_immediate_and_unknown_keys_are_invalid(operator_client):
    body = mint(operator_client).json()
    client = with_key(body["key"], "x-api-key")
    assert client.get("/api/v1/stations").status_code == 200
    assert operator_client.delete(f"/api/v1/auth/api-keys/{body['id']}/").status_code == 204
    assert_envelope(client.get("/api/v1/stations"), 401, "INVALID_TOKEN")
    assert_envelope(operator_client.delete(f"/api/v1/auth/api-keys/{body['id']}"), 404,
                    "NOT_FOUND")  # fmt: skip
    assert operator_client.get("/api/v1/auth/api-keys").json()["data"] == []
    assert_envelope(with_key("hmd_" + "A" * 43).get("/api/v1/stations"), 401, "INVALID_TOKEN")


def test_a_key_dies_with_its_creators_account_or_role(admin_client, admin_user):
    key = mint(admin_client, role="admin").json()["key"]
    viewer_key = mint(admin_client, name="reader", role="viewer").json()["key"]
    client, reader = with_key(key), with_key(viewer_key)
    assert client.get("/api/v1/auth/me").json()["role"] == "admin"
    from apps.accounts.services import user_set_role

    user_set_role(user=admin_user, role="operator")
    assert_envelope(client.get("/api/v1/stations"), 401, "INVALID_TOKEN")  # above the creator
    assert reader.get("/api/v1/stations").status_code == 200  # still within
    admin_user.is_active = False
    admin_user.save()
    assert_envelope(reader.get("/api/v1/stations"), 401, "INVALID_TOKEN")


def test_admins_see_and_revoke_everyones_keys_others_get_404(admin_client, operator_client,
                                                             viewer_client):  # fmt: skip
    mine = mint(operator_client, name="otto's").json()
    theirs = mint(viewer_client, name="vera's").json()
    names = {k["name"] for k in admin_client.get("/api/v1/auth/api-keys").json()["data"]}
    assert names == {"otto's", "vera's"}
    own = operator_client.get("/api/v1/auth/api-keys").json()["data"]
    assert [k["name"] for k in own] == ["otto's"]
    assert_envelope(operator_client.delete(f"/api/v1/auth/api-keys/{theirs['id']}"), 404,
                    "NOT_FOUND")  # fmt: skip
    assert ApiKey.objects.get(pk=theirs["id"]).revoked_at is None
    assert admin_client.delete(f"/api/v1/auth/api-keys/{mine['id']}").status_code == 204
    assert_envelope(with_key(mine["key"]).get("/api/v1/stations"), 401, "INVALID_TOKEN")


def test_a_key_cannot_mint_keys_but_can_list_and_revoke(operator_client):
    body = mint(operator_client).json()
    keyed = with_key(body["key"])
    assert_envelope(mint(keyed, name="child"), 403, "PERMISSION_DENIED")
    assert [k["id"] for k in keyed.get("/api/v1/auth/api-keys").json()["data"]] == [body["id"]]
    assert keyed.delete(f"/api/v1/auth/api-keys/{body['id']}").status_code == 204
    assert ApiKey.objects.count() == 1


def test_last_used_at_is_written_at_most_once_a_minute(operator_client, django_assert_num_queries):
    body = mint(operator_client).json()
    client = with_key(body["key"])
    client.get("/api/v1/auth/me")
    first = ApiKey.objects.get(pk=body["id"]).last_used_at
    assert first is not None
    with django_assert_num_queries(1):  # the key lookup only: no UPDATE
        assert client.get("/api/v1/auth/me").status_code == 200
    assert ApiKey.objects.get(pk=body["id"]).last_used_at == first
    ApiKey.objects.filter(pk=body["id"]).update(last_used_at=first - timedelta(minutes=2))
    client.get("/api/v1/auth/me")
    assert ApiKey.objects.get(pk=body["id"]).last_used_at > first
    listed = operator_client.get("/api/v1/auth/api-keys").json()["data"][0]
    assert listed["last_used_at"].endswith("Z")


@pytest.mark.usefixtures("rate_window_held")
def test_rate_limits_are_counted_per_key(operator_client, settings):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "api_key": "3/hour"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    one, two = mint(operator_client, name="one").json(), mint(operator_client, name="two").json()
    first = with_key(one["key"])
    for remaining in (2, 1, 0):
        response = first.get("/api/v1/stations")
        assert response.status_code == 200
        assert response["X-RateLimit-Limit"] == "3"
        assert response["X-RateLimit-Remaining"] == str(remaining)
    assert_envelope(first.get("/api/v1/stations"), 429, "RATE_LIMITED")
    assert with_key(two["key"]).get("/api/v1/stations").status_code == 200
    assert operator_client.get("/api/v1/stations").status_code == 200  # the user's own window


def test_key_endpoints_need_authentication(anon_client, db):
    assert_envelope(anon_client.get("/api/v1/auth/api-keys"), 401, "AUTHENTICATION_REQUIRED")
    assert_envelope(mint(anon_client), 401, "AUTHENTICATION_REQUIRED")


def test_other_users_keys_do_not_leak_through_ids(operator_client, db):
    other = client_for(make_user("olga", "operator"))
    theirs = mint(other).json()
    assert_envelope(operator_client.delete(f"/api/v1/auth/api-keys/{theirs['id']}"), 404,
                    "NOT_FOUND")  # fmt: skip
    assert_envelope(operator_client.delete("/api/v1/auth/api-keys/not-a-uuid"), 404, "NOT_FOUND")
