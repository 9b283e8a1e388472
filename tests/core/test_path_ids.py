"""A path id that is not an 8-4-4-4-12 UUID names nothing: 404 in the envelope, never a
500 from the ORM (`make fuzz`: DELETE /auth/api-keys/1da84fF0aA8Baec-FEb05A1ca90bd0-02CB0,
36 hex digits and dashes in the wrong places)."""

import re

import pytest
from django.urls import get_resolver

from tests.helpers import assert_envelope

pytestmark = pytest.mark.django_db
BAD = "1da84fF0aA8Baec-FEb05A1ca90bd0-02CB0"


OTHER_GROUP = re.compile(r"\(\?P<\w+>[^)]*\)")


def _walk(patterns, prefix: str = ""):
    for pattern in patterns:
        regex = prefix + str(pattern.pattern).lstrip("^").rstrip("$")
        if hasattr(pattern, "url_patterns"):
            yield from _walk(pattern.url_patterns, regex)
        else:
            yield regex


def _uuid_routes() -> list[str]:
    """Every API route with an id in its path, each id made BAD."""
    return sorted(
        "/" + OTHER_GROUP.sub(BAD, regex).replace("/?", "")
        for regex in _walk(get_resolver().url_patterns)
        if regex.startswith("api/") and OTHER_GROUP.search(regex)
    )


def test_every_uuid_route_is_found_by_the_check():
    assert "/api/v1/auth/api-keys/" + BAD in _uuid_routes()
    assert len(_uuid_routes()) >= 30, _uuid_routes()


@pytest.mark.parametrize("method", ["get", "delete", "post", "patch"])
def test_a_malformed_uuid_in_any_path_is_404(admin_client, method):
    for route in _uuid_routes():
        response = getattr(admin_client, method)(route, {}, format="json")
        assert response.status_code in (404, 405), (route, response.status_code)
        if response.status_code == 404:
            assert_envelope(response, 404, "NOT_FOUND")
