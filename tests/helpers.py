"""Helpers shared by tests: users in each role, authenticated API clients, the error envelope."""

import asyncio
import contextlib
import inspect
import time
from datetime import UTC, datetime, timedelta

from rest_framework.test import APIClient

PASSWORD = "correct-horse-battery-staple"


def yesterday_noon() -> datetime:
    """12:00 UTC yesterday: a detection time in the past at any time of day (today's noon is
    in the future before 12:00 UTC: ingest refuses it), hours away from a midnight either
    way, and inside the retention period on any date (a fixed date falls out of it)."""
    return (datetime.now(UTC) - timedelta(days=1)).replace(
        hour=12, minute=0, second=0, microsecond=0
    )


def make_user(username: str, role: str, **extra):
    """A user in `role` whose password is PASSWORD (tests.accounts.factories.UserFactory)."""
    from tests.accounts.factories import UserFactory

    return UserFactory(username=username, role=role, **extra)


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        response = client.post(
            "/api/v1/auth/login", {"username": user.username, "password": PASSWORD}, format="json"
        )
        assert response.status_code == 200, response.content
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
    return client


def assert_envelope(response, status: int, code: str, field: str | None = None):
    """The response is an error in the seed's envelope, naming `field` when given."""
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert set(error) == {"code", "message", "details", "request_id", "timestamp"}
    assert error["code"] == code
    assert error["request_id"] == response["X-Request-ID"]
    assert error["timestamp"].endswith("Z")
    if field is not None:
        assert (
            field in error["details"].get("fields", {}) or error["details"].get("field") == field
        ), error
    return error


def database_url(settings_dict) -> str:
    """The test database as a URL, for subprocesses (servers, workers) under test."""
    user = settings_dict["USER"]
    host = settings_dict["HOST"] or "127.0.0.1"
    port = settings_dict["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{settings_dict['NAME']}"


def small_dataset(client, capture, samples=300):
    """A ready synthetic localization dataset, generated through the API; its id."""
    from apps.training import tasks

    with capture(execute=True):
        body = client.post(
            "/api/v1/training/synthetic/generate",
            {"name": "train", "num_samples": samples, "receiver_seed": 5},
            format="json",
        ).json()
    assert tasks.generate_dataset(body["id"]) == "ready"
    return body["id"]


def committed_dataset(client, samples: int) -> str:
    """small_dataset for transactional tests: commits are real, so nothing needs capturing."""
    return small_dataset(client, lambda execute=True: contextlib.nullcontext(), samples=samples)


def wait_for(condition, timeout: float = 30.0, interval: float = 0.05, what: str = ""):
    """Poll `condition()` until it returns something truthy, and return that.

    The waits in the suite are on conditions, never fixed sleeps: a test takes
    as long as the thing it waits for, and fails with AssertionError after
    `timeout` seconds. Exceptions from `condition` (a server not listening yet)
    count as "not yet".
    """
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            found = condition()
        except Exception as exc:
            found, last_error = None, exc
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what or condition}") from last_error
        time.sleep(interval)


async def async_wait_for(condition, timeout: float = 30.0, interval: float = 0.05, what: str = ""):
    """`wait_for` in a coroutine: `condition` may be a plain or an async callable."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            found = condition()
            if inspect.isawaitable(found):
                found = await found
        except Exception as exc:
            found, last_error = None, exc
        if found:
            return found
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout} s: {what or condition}") from last_error
        await asyncio.sleep(interval)


def together(calls) -> list:
    """Run each `calls[i]()` in its own thread (its own database connections, closed
    after), all released by one barrier; their results in order."""
    import threading

    from django.db import connections

    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index):
        barrier.wait(timeout=10)
        try:
            results[index] = calls[index]()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def at_once(clients, url: str, bodies: list) -> list:
    """POST bodies[i] with clients[i], all at once (`together`); the responses in order."""
    return together(
        [
            lambda client=client, body=body: client.post(url, body, format="json")
            for client, body in zip(clients, bodies, strict=True)
        ]
    )
