"""Single-use and unique things under real concurrent requests (threads, PostgreSQL).

Each test starts its requests together behind a barrier; every thread has its
own database connection, so PostgreSQL sees them at the same moment.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connections
from rest_framework.test import APIClient

from apps.accounts.models import ApiKey
from tests.helpers import PASSWORD, assert_envelope, make_user

# serialized_rollback: the flush after each test would otherwise re-create content types
# and groups that the next serialized test restores again (duplicate keys).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
CLIENTS = 12


def together(count: int, request):
    """Run `request(i)` in `count` threads released at once; their results in order."""
    barrier = threading.Barrier(count)

    def run(index):
        try:
            barrier.wait(timeout=10)
            return request(index)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def login(username: str) -> dict:
    response = APIClient().post(
        "/api/v1/auth/login", {"username": username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_one_refresh_token_sent_by_12_clients_at_once_is_honoured_once():
    make_user("vera", "viewer")
    refresh = login("vera")["refresh_token"]

    def use(_):
        return APIClient().post("/api/v1/auth/refresh", {"refresh_token": refresh}, format="json")

    responses = together(CLIENTS, use)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [401] * (CLIENTS - 1)
    for response in responses:
        if response.status_code == 401:
            assert_envelope(response, 401, "INVALID_TOKEN")
    (winner,) = [r.json() for r in responses if r.status_code == 200]
    # The one new refresh token works once more; the old one never again.
    again = APIClient().post(
        "/api/v1/auth/refresh", {"refresh_token": winner["refresh_token"]}, format="json"
    )
    assert again.status_code == 200
    old = APIClient().post("/api/v1/auth/refresh", {"refresh_token": refresh}, format="json")
    assert_envelope(old, 401, "INVALID_TOKEN")


def test_concurrent_revocations_of_one_key_succeed_exactly_once():
    owner = make_user("otto", "operator")
    key = ApiKey.objects.create(user=owner, name="k", role="operator", prefix="hmd_x",
                                key_hash="0" * 64)  # fmt: skip
    token = login("otto")["access_token"]

    def revoke(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client.delete(f"/api/v1/auth/api-keys/{key.pk}")

    statuses = sorted(r.status_code for r in together(CLIENTS, revoke))
    assert statuses == [204] + [404] * (CLIENTS - 1)
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_concurrent_creations_with_one_name_make_one_key():
    make_user("otto", "operator")
    token = login("otto")["access_token"]

    def create(_):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client.post("/api/v1/auth/api-keys", {"name": "collector"}, format="json")

    responses = together(CLIENTS, create)
    assert sorted(r.status_code for r in responses) == [201] + [409] * (CLIENTS - 1)
    for response in responses:
        if response.status_code == 409:
            assert_envelope(response, 409, "CONFLICT", "name")
    assert ApiKey.objects.filter(name="collector").count() == 1


def test_concurrent_creations_stop_at_the_per_user_cap(settings):
    settings.HEIMDALL_API_KEYS_PER_USER = 5
    make_user("otto", "operator")
    token = login("otto")["access_token"]

    def create(index):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client.post("/api/v1/auth/api-keys", {"name": f"k{index}"}, format="json")

    statuses = sorted(r.status_code for r in together(CLIENTS, create))
    assert statuses == [201] * 5 + [409] * (CLIENTS - 5)
    assert ApiKey.objects.count() == 5


def test_a_revoked_key_is_refused_by_every_request_that_starts_after_the_revocation():
    make_user("otto", "operator")
    token = login("otto")["access_token"]
    owner = APIClient()
    owner.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    created = owner.post("/api/v1/auth/api-keys", {"name": "script"}, format="json").json()
    key = created["key"]

    def use(index):
        client = APIClient()
        if index == 0:
            return owner.delete(f"/api/v1/auth/api-keys/{created['id']}")
        return client.get("/api/v1/stations", HTTP_X_API_KEY=key)

    # In flight together with the revocation: each is served or refused, never a 500.
    results = together(CLIENTS, use)
    assert results[0].status_code == 204
    assert {r.status_code for r in results[1:]} <= {200, 401}
    # After it: all refused, at once.
    after = together(CLIENTS, lambda _: APIClient().get("/api/v1/stations", HTTP_X_API_KEY=key))
    for response in after:
        assert_envelope(response, 401, "INVALID_TOKEN")


def test_concurrent_user_creation_with_one_username_is_one_user_and_conflicts():
    from apps.accounts.services import user_create
    from apps.core.exceptions import Conflict

    def create(_):
        try:
            user_create(username="same", password=PASSWORD, role="viewer", validate=False)
            return "created"
        except Conflict:
            return "conflict"

    results = together(CLIENTS, create)
    assert sorted(results) == ["conflict"] * (CLIENTS - 1) + ["created"]
    from django.contrib.auth import get_user_model

    assert get_user_model().objects.filter(username="same").count() == 1
