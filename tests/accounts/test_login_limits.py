"""One login limit for every way of logging in, per (username, address) and per address."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.helpers import PASSWORD, assert_envelope

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rate_window_held")]


def set_rates(settings, **rates):
    merged = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": merged}


def admin_login(client: Client, username: str, password: str, **extra):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        **extra,
    )


def api_login(client, username, password=PASSWORD, **extra):
    return client.post(
        "/api/v1/auth/login", {"username": username, "password": password}, format="json", **extra
    )


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


# Rates per hour in these tests, and the limiter's clock held (rate_window_held): a
# fixed window, a minute's or an hour's, could otherwise end mid-test.


def test_admin_login_40_wrong_passwords_then_the_right_one_is_refused(admin_user, settings):
    set_rates(settings, login_username="10/hour", login_address="30/hour")
    client = Client()
    statuses = [admin_login(client, "ada", f"wrong-{i}").status_code for i in range(40)]
    assert statuses[:10] == [200] * 10  # the form again: wrong password
    assert set(statuses[10:]) == {429}  # 10 per (username, address), as by default
    response = admin_login(client, "ada", PASSWORD)
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert b"Too many login attempts" in response.content
    assert not logged_in(client)


def test_admin_lockout_is_per_address_not_per_user(admin_user, settings):
    set_rates(settings, login_username="10/hour", login_address="30/hour")
    attacker = Client(REMOTE_ADDR="198.51.100.7")
    for i in range(11):
        admin_login(attacker, "ada", f"wrong-{i}")
    assert admin_login(attacker, "ada", PASSWORD).status_code == 429
    owner = Client(REMOTE_ADDR="192.0.2.10")
    response = admin_login(owner, "ada", PASSWORD)
    assert response.status_code == 302  # to /admin/
    assert logged_in(owner)


def test_api_and_admin_logins_share_one_limit(admin_user, settings):
    set_rates(settings, login_username="3/hour")
    api = APIClient(REMOTE_ADDR="203.0.113.5")
    page = Client(REMOTE_ADDR="203.0.113.5")
    assert api_login(api, "ada", "wrong").status_code == 401
    assert admin_login(page, "ada", "wrong").status_code == 200
    assert api_login(api, "ADA ", "wrong").status_code == 401  # one username, however written
    assert admin_login(page, "ada", PASSWORD).status_code == 429
    response = api_login(api, "ada")
    assert_envelope(response, 429, "RATE_LIMITED")
    assert response["X-RateLimit-Limit"] == "3"
    assert api_login(APIClient(REMOTE_ADDR="203.0.113.6"), "ada").status_code == 200


def test_the_address_limit_counts_every_username_tried(viewer_user, settings):
    set_rates(settings, login_address="2/hour")
    client = Client(REMOTE_ADDR="203.0.113.9")
    for name in ("a", "b"):
        assert admin_login(client, name, "x").status_code == 200
    assert admin_login(client, "vera", PASSWORD).status_code == 429


def test_forged_x_forwarded_for_does_not_reset_the_limit(viewer_user, settings):
    """No trusted proxies (the default): the header is ignored, the peer address counts."""
    set_rates(settings, login_username="3/hour")
    client = APIClient(REMOTE_ADDR="198.51.100.20")
    for i in range(3):
        assert api_login(client, "vera", "x", HTTP_X_FORWARDED_FOR=f"10.0.0.{i}").status_code == 401
    response = api_login(client, "vera", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert_envelope(response, 429, "RATE_LIMITED")


def test_behind_a_trusted_proxy_each_client_address_counts(viewer_user, settings):
    settings.HEIMDALL_TRUSTED_PROXIES = ["10.0.0.0/8"]
    set_rates(settings, login_username="3/hour")
    proxy = APIClient(REMOTE_ADDR="10.0.0.2")
    for _ in range(3):
        assert api_login(proxy, "vera", "x", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 401
    assert api_login(proxy, "vera", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 429
    # A client behind the same proxy is another address...
    assert api_login(proxy, "vera", HTTP_X_FORWARDED_FOR="198.51.100.2").status_code == 200
    # ...and the attacker cannot pose as it by prepending: the proxy's entry is the last one.
    forged = "198.51.100.2, 198.51.100.1"
    assert api_login(proxy, "vera", HTTP_X_FORWARDED_FOR=forged).status_code == 429


def test_ipv6_clients_count_per_64(viewer_user, settings):
    set_rates(settings, login_username="2/hour")
    for suffix in ("1", "2"):
        client = APIClient(REMOTE_ADDR=f"2001:db8:1:2::{suffix}")
        assert api_login(client, "vera", "x").status_code == 401
    assert api_login(APIClient(REMOTE_ADDR="2001:db8:1:2::99"), "vera").status_code == 429
    assert api_login(APIClient(REMOTE_ADDR="2001:db8:1:3::1"), "vera").status_code == 200
