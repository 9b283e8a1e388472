"""Reference transmitters and localizations in Django admin, for a role-admin.

Found: neither was in the admin at all, though reference transmitters are a list
"an admin maintains" (only the API could). Now: reference transmitters with the API's
bounds (NaN, 91°, 0 Hz refused) written through the services (names normalised, the
per-process reference cache cleared); localizations read-only."""

import pytest
from django.test import Client

from apps.constellations.models import AutoLocalizeBacklog, Localization, ReferenceTransmitter
from apps.constellations.selectors import reference_for
from tests.constellations import factories
from tests.dashboard import data
from tests.helpers import client_for, make_user

pytestmark = pytest.mark.django_db
REFS = "/admin/constellations/referencetransmitter/"
GOOD = {"name": " Beacon\u200b ", "latitude": "45.1", "longitude": "8.0",
        "frequency_hz": "145400000", "bandwidth_hz": "12500", "tx_power_dbm": "37",
        "active": "on", "notes": ""}  # fmt: skip


@pytest.fixture
def admin_client():
    user = make_user("ada", "admin")
    client = Client()
    client.force_login(user, backend=data.SESSION_BACKEND)
    return user, client


def test_reference_transmitters_in_the_admin(admin_client):
    user, client = admin_client
    assert client.get(REFS).status_code == 200
    assert client.get(f"{REFS}add/").status_code == 200
    for field, value in [("latitude", "91"), ("latitude", "nan"), ("longitude", "inf"),
                         ("frequency_hz", "0"), ("bandwidth_hz", "0"),
                         ("tx_power_dbm", "500"), ("name", "\u200b")]:  # fmt: skip
        response = client.post(f"{REFS}add/", {**GOOD, field: value})
        assert response.status_code == 200, (field, value)  # the form again, with its error
        assert field in response.context["adminform"].form.errors, (field, value)
    assert ReferenceTransmitter.objects.count() == 0
    assert reference_for(145_400_000) is None  # cached: none
    response = client.post(f"{REFS}add/", GOOD)
    assert response.status_code == 302, response.context["adminform"].form.errors
    reference = ReferenceTransmitter.objects.get()
    assert reference.name == "Beacon" and reference.created_by == user
    assert reference_for(145_400_000) == reference.pk  # the cache was cleared
    change = f"{REFS}{reference.pk}/change/"
    assert client.get(change).status_code == 200
    response = client.post(change, {**GOOD, "name": "Beacon", "frequency_hz": "145425000"})
    assert response.status_code == 302
    assert ReferenceTransmitter.objects.get().frequency_hz == 145_425_000
    assert reference_for(145_400_000) is None and reference_for(145_425_000) == reference.pk
    response = client.post(REFS, {"action": "delete_through_service",
                                  "_selected_action": [str(reference.pk)]})  # fmt: skip
    assert response.status_code == 302
    assert ReferenceTransmitter.objects.count() == 0
    assert reference_for(145_425_000) is None


def test_localizations_are_read_only_in_the_admin(admin_client):
    user, client = admin_client
    factories.italian_stations()
    ids = [row["id"] for row in factories.ITALIAN]
    constellation = factories.constellation_of(user, ids)
    fix = client_for(user).post(
        f"/api/v1/constellations/{constellation.pk}/localize",
        {"frequency_hz": factories.FREQUENCY_HZ,
         "measurements": factories.measurements(factories.strengths(ids))},
        format="json",
    )  # fmt: skip
    assert fix.status_code == 201
    url = "/admin/constellations/localization/"
    page = client.get(url)
    assert page.status_code == 200 and "145500000" in page.content.decode()
    for query in ("?q=abc", "?q=145500000", "?method__exact=wls"):
        assert client.get(url + query).status_code == 200, query
    detail = client.get(f"{url}{fix.json()['id']}/change/")
    assert detail.status_code == 200
    assert client.get(f"{url}add/").status_code == 403
    before = Localization.objects.get()
    client.post(f"{url}{before.pk}/change/", {"latitude": "0"})
    assert Localization.objects.get().latitude == before.latitude


def test_the_auto_localization_backlog_is_read_only_in_the_admin(admin_client):
    _, client = admin_client
    kept = AutoLocalizeBacklog.objects.create(
        stations=["it-a", "it-b", "it-c"], spans=[["2026-11-30T00:00:00Z", "2026-11-30T00:00:01Z"]]
    )
    url = "/admin/constellations/autolocalizebacklog/"
    page = client.get(url)
    assert page.status_code == 200 and "it-b" in page.content.decode()
    assert client.get(f"{url}{kept.pk}/change/").status_code == 200
    assert client.get(f"{url}add/").status_code == 403
    client.post(f"{url}{kept.pk}/change/", {"attempts": "4"})
    assert AutoLocalizeBacklog.objects.get().attempts == 0
