"""Issue 14 §5 (found missing by review): a constellation's page shows its localizations
(fixes for the map's 95 % ellipses, one posterior as a heat map) and has a localize form
that goes through the API's service and checks."""

import json
import re

import pytest
from django.test import Client

from apps.constellations.models import Localization
from apps.constellations.services import share_create
from tests.constellations import factories
from tests.dashboard import data as dashboard_data
from tests.helpers import make_user

pytestmark = pytest.mark.django_db
IDS = [row["id"] for row in factories.ITALIAN]


def _client(user) -> Client:
    client = Client()
    client.force_login(user, backend=dashboard_data.SESSION_BACKEND)
    return client


@pytest.fixture
def owner(db):
    return make_user("olga", "operator")


@pytest.fixture
def world(owner):
    factories.italian_stations()
    return factories.constellation_of(owner, IDS)


def _script_data(html: str, element_id: str):
    found = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>',
                      html, re.S)  # fmt: skip
    return json.loads(found.group(1)) if found else None


def _form(values: dict, **extra) -> dict:
    form = {"action": "localize", "frequency_hz": str(factories.FREQUENCY_HZ), "method": "wls"}
    form.update({f"strength_{station}": f"{db:.2f}" for station, db in values.items()})
    return {**form, **extra}


def test_an_operator_localizes_from_the_page_and_sees_the_fix_and_its_posterior(owner, world):
    client = _client(owner)
    page = client.get(f"/constellations/{world.pk}").content.decode()
    assert 'id="localize-form"' in page
    assert _script_data(page, "localizations-data") == []
    values = factories.strengths(IDS[:4])
    response = client.post(f"/constellations/{world.pk}", _form(values))
    assert response.status_code == 302, response.content[:500]
    fix = Localization.objects.get()
    assert (fix.trigger, fix.created_by_id, fix.method) == ("request", owner.pk, "wls")
    assert sorted(fix.receivers_used) == sorted(IDS[:4])
    assert response["Location"] == f"/constellations/{world.pk}?localization={fix.pk}"
    shown = client.get(response["Location"]).content.decode()
    (listed,) = _script_data(shown, "localizations-data")
    assert listed["id"] == str(fix.pk) and listed["uncertainty"]["ellipse"]["semi_major_m"] > 0
    posterior = _script_data(shown, "posterior-data")
    rows, cols = posterior["shape"]
    assert len(posterior["probabilities"]) == rows * cols
    assert sum(posterior["probabilities"]) == pytest.approx(1.0)
    assert f'data-localization="{fix.pk}"' in shown


def test_bad_localize_input_is_shown_and_nothing_is_stored(owner, world):
    values = factories.strengths(IDS[:2])  # two receivers: too few
    response = _client(owner).post(f"/constellations/{world.pk}", _form(values))
    assert response.status_code == 400
    html = response.content.decode()
    assert 'data-error="localize.measurements"' in html and "needs 3 to 64" in html
    bad = _client(owner).post(f"/constellations/{world.pk}",
                              _form(factories.strengths(IDS[:3]), frequency_hz="abc"))  # fmt: skip
    assert bad.status_code == 400 and 'data-error="localize.frequency_hz"' in bad.content.decode()
    assert not Localization.objects.exists()


def test_a_viewer_with_read_access_sees_fixes_but_no_form_and_is_refused(owner, world):
    viewer = make_user("vera", "viewer")
    share_create(constellation=world, user_id=viewer.pk, permission="read", shared_by=owner)
    page = _client(viewer).get(f"/constellations/{world.pk}").content.decode()
    assert 'id="localize-form"' not in page
    response = _client(viewer).post(f"/constellations/{world.pk}",
                                    _form(factories.strengths(IDS[:3])))  # fmt: skip
    assert response.status_code == 403
    assert not Localization.objects.exists()


def test_a_stranger_gets_404_and_cannot_see_a_fix_of_another_constellation(owner, world):
    stranger = make_user("sam", "operator")
    response = _client(stranger).post(f"/constellations/{world.pk}",
                                      _form(factories.strengths(IDS[:3])))  # fmt: skip
    assert response.status_code == 404
    assert not Localization.objects.exists()
