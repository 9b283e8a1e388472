"""NUL (\\x00) in a console form field the view hands to a query by hand: PostgreSQL text
cannot hold it, so it is a 400 naming the field, never a 500; nothing changes."""

import pytest
from django.test import Client

from apps.constellations.models import Constellation, ConstellationMember, ConstellationShare
from tests.dashboard import data as factories
from tests.helpers import make_user

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "form",
    [
        {"action": "add_member", "websdr_station_id": "twente\x00"},
        {"action": "remove_member", "websdr_station_id": "twente\x00"},
        {"action": "share", "username": "vera\x00", "permission": "read"},
        {"action": "reshare", "user_id": "\x00", "permission": "read"},
        {"action": "revoke", "user_id": "\x00"},
        {"action": "\x00"},
    ],
    ids=["add_member", "remove_member", "share", "reshare", "revoke", "action"],
)
def test_nul_in_a_constellation_form_field_is_a_400_naming_it(form):
    factories.station("twente-nl")
    make_user("vera", "viewer")
    operator = make_user("otto", "operator")
    client = Client(raise_request_exception=False)
    client.force_login(operator, backend=factories.SESSION_BACKEND)
    client.post("/constellations", {"name": "North Sea", "description": ""})
    constellation = Constellation.objects.get(name="North Sea")
    url = f"/constellations/{constellation.pk}"
    added = client.post(url, {"action": "add_member", "websdr_station_id": "twente-nl"})
    assert added.status_code == 302
    answer = client.post(url, form)
    assert answer.status_code == 400, answer.content[:300]
    assert "must not contain NUL" in answer.content.decode()
    assert list(ConstellationMember.objects.values_list("station_id", flat=True)) == ["twente-nl"]
    assert not ConstellationShare.objects.exists()
