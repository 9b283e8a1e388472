"""Forwarded headers are believed only from HEIMDALL_TRUSTED_PROXIES."""

import logging

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from apps.core.proxies import refuse_daphne_proxy_headers, resolve_client
from tests.helpers import assert_envelope

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "client"),
    [
        ([], "198.51.100.1", "10.0.0.1", "198.51.100.1"),  # nobody trusted: the peer
        (["10.0.0.1"], "198.51.100.1", "203.0.113.9", "198.51.100.1"),  # peer not a proxy
        (["10.0.0.1"], "10.0.0.1", "203.0.113.9", "203.0.113.9"),
        (["10.0.0.1"], "10.0.0.1", "1.2.3.4, 203.0.113.9", "203.0.113.9"),  # forged left part
        (["10.0.0.0/8"], "10.0.0.1", "203.0.113.9, 10.2.2.2", "203.0.113.9"),  # two proxies
        (["10.0.0.0/8"], "10.0.0.1", "10.3.3.3, 10.2.2.2", "10.3.3.3"),  # all trusted
        (["10.0.0.0/8"], "10.0.0.1", "garbage, 10.2.2.2", "10.2.2.2"),
        (["10.0.0.0/8"], "10.0.0.1", "", "10.0.0.1"),
        (["2001:db8::/48"], "2001:db8::1", "[2001:db8:ff::2]:443, 2001:db8::9", "2001:db8:ff::2"),
        (["2001:db8::/32"], "2001:db8::1", "198.51.100.4:5555", "198.51.100.4"),
        ([], None, "1.2.3.4", "unknown"),
    ],
)
def test_resolve_client(settings, trusted, peer, forwarded, client):
    settings.HEIMDALL_TRUSTED_PROXIES = trusted
    assert resolve_client(peer, forwarded) == client


def test_a_bad_trusted_proxy_entry_is_a_configuration_error(settings):
    settings.HEIMDALL_TRUSTED_PROXIES = ["10.0.0.0/8", "proxy.example.org"]
    with pytest.raises(ImproperlyConfigured, match=r"proxy\.example\.org"):
        resolve_client("10.0.0.1", "1.2.3.4")


def anon_rate(settings, rate):
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "anon": rate}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


@pytest.mark.usefixtures("rate_window_held")
def test_a_new_x_forwarded_for_per_request_does_not_defeat_the_anonymous_limit(settings):
    anon_rate(settings, "3/hour")
    client = APIClient(REMOTE_ADDR="198.51.100.30")
    for index in range(3):
        response = client.get("/api/v1/stations", HTTP_X_FORWARDED_FOR=f"10.0.{index}.1")
        assert response.status_code == 401
    response = client.get("/api/v1/stations", HTTP_X_FORWARDED_FOR="10.0.99.1")
    assert_envelope(response, 429, "RATE_LIMITED")


@pytest.mark.usefixtures("rate_window_held")
def test_behind_trusted_proxies_the_forwarded_client_counts(settings):
    settings.HEIMDALL_TRUSTED_PROXIES = ["10.0.0.2"]
    anon_rate(settings, "2/hour")
    proxy = APIClient(REMOTE_ADDR="10.0.0.2")
    for _ in range(2):
        assert proxy.get("/api/v1/stations", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 401
    assert proxy.get("/api/v1/stations", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 429
    assert proxy.get("/api/v1/stations", HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 401


def test_forwarded_proto_from_an_untrusted_peer_does_not_make_a_request_secure(settings):
    from django.test import RequestFactory

    from apps.core.proxies import ClientAddressMiddleware

    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    seen = {}

    def view(request):
        seen["secure"] = request.is_secure()
        seen["addr"] = request.META["REMOTE_ADDR"]
        return None

    middleware = ClientAddressMiddleware(view)
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.1",
                                   HTTP_X_FORWARDED_PROTO="https",
                                   HTTP_X_FORWARDED_FOR="10.1.1.1")  # fmt: skip
    middleware(request)
    assert seen == {"secure": False, "addr": "198.51.100.1"}
    settings.HEIMDALL_TRUSTED_PROXIES = ["198.51.100.1"]
    request = RequestFactory().get("/", REMOTE_ADDR="198.51.100.1",
                                   HTTP_X_FORWARDED_PROTO="https",
                                   HTTP_X_FORWARDED_FOR="203.0.113.7")  # fmt: skip
    middleware(request)
    assert seen == {"secure": True, "addr": "203.0.113.7"}
    assert request.META["HEIMDALL_PEER_ADDR"] == "198.51.100.1"


def test_log_lines_carry_the_resolved_client(settings, caplog):
    from django.test import RequestFactory

    from apps.core.logging import RequestIdFilter
    from apps.core.proxies import ClientAddressMiddleware

    def view(request):
        logging.getLogger("heimdall.test").warning("inside")
        return None

    with caplog.at_level(logging.WARNING, logger="heimdall.test"):
        caplog.handler.addFilter(RequestIdFilter())
        ClientAddressMiddleware(view)(
            RequestFactory().get("/", REMOTE_ADDR="198.51.100.3", HTTP_X_FORWARDED_FOR="6.6.6.6")
        )
    assert [record.client for record in caplog.records] == ["198.51.100.3"]


@pytest.mark.parametrize(
    ("argv", "refused"),
    [
        (["daphne", "-b", "0.0.0.0", "-p", "8000", "heimdall.asgi:application"], False),
        (["daphne", "--proxy-headers", "heimdall.asgi:application"], True),
        (["daphne", "--proxy-headers", "--proxy-headers-host", "X-Real-IP", "x:app"], True),
    ],
)
def test_daphne_proxy_headers_are_refused(argv, refused):
    if refused:
        with pytest.raises(ImproperlyConfigured, match="HEIMDALL_TRUSTED_PROXIES"):
            refuse_daphne_proxy_headers(argv)
    else:
        refuse_daphne_proxy_headers(argv)


def test_the_procfile_runs_daphne_without_proxy_headers():
    from pathlib import Path

    procfile = (Path(__file__).resolve().parents[2] / "Procfile").read_text()
    web = next(line for line in procfile.splitlines() if line.startswith("web:"))
    assert "daphne" in web and "--proxy-headers" not in web


@pytest.mark.slow
@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"HEIMDALL_NUM_PROXIES": "1"}, "HEIMDALL_TRUSTED_PROXIES instead"),
        ({"HEIMDALL_BEHIND_PROXY": "true"}, "HEIMDALL_BEHIND_PROXY needs"),
        ({"HEIMDALL_TRUSTED_PROXIES": "10.0.0.0/8,not-an-address"}, "not-an-address"),
    ],
)
def test_unsafe_proxy_settings_stop_the_process(env, message):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=root,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert message in result.stderr
