"""Django admin for a role-admin who is not a superuser: model permissions from the
post-migrate hook, state changes through the services (as the API makes them)."""

import pytest
from django.core.cache import cache
from django.test import Client

from apps.anomalies.models import AnomalyEvent
from apps.core.timeutil import utc_now
from apps.ml.models import MLModel
from apps.ml.services import ACTIVE_CACHE_KEY, model_activate
from apps.stations.models import Station
from apps.training.models import TrainingJob
from tests.dashboard import data as factories
from tests.helpers import make_user
from tests.ml.factories import registered

pytestmark = pytest.mark.django_db


@pytest.fixture
def role_admin(db):
    user = make_user("ada", "admin")
    assert user.is_staff and not user.is_superuser
    client = Client()
    client.force_login(user, backend=factories.SESSION_BACKEND)
    return user, client


def action(name: str, pk) -> dict:
    return {"action": name, "_selected_action": [str(pk)]}


PAGES = [
    "/admin/",
    "/admin/stations/station/",
    "/admin/stations/station/add/",
    "/admin/anomalies/anomalyevent/",
    "/admin/signals/signaldetection/",
    "/admin/ml/mlmodel/",
    "/admin/constellations/constellation/",
    "/admin/training/trainingjob/",
    "/admin/training/trainingmetric/",
    "/admin/training/syntheticdataset/",
    "/admin/recordings/recording/",
    "/admin/accounts/user/",
    "/admin/auth/group/",
]


def test_role_admin_uses_the_admin(role_admin):
    _, client = role_admin
    for url in PAGES:
        assert client.get(url).status_code == 200, url
    index = client.get("/admin/").content.decode()
    for name in ("Stations", "Anomaly events", "Training jobs", "Users"):
        assert name.lower() in index.lower(), name
    assert 'href="/"' in index  # "View site" leads to the console


def test_other_roles_have_no_admin(db):
    for role in ("operator", "viewer"):
        client = Client()
        client.force_login(make_user(f"u-{role}", role), backend=factories.SESSION_BACKEND)
        response = client.get("/admin/")
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_activating_in_admin_reaches_the_live_scorer(
    role_admin, django_capture_on_commit_callbacks
):
    _, client = role_admin
    with django_capture_on_commit_callbacks(execute=True):
        old = registered("localization", version="1.0.0")
        model_activate(model=old)
    new = registered("localization", version="2.0.0")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/ml/mlmodel/", action("activate", new.pk))
    assert response.status_code == 302
    assert MLModel.objects.get(pk=new.pk).status == "deployed"
    assert MLModel.objects.get(pk=old.pk).status == "deprecated"
    assert cache.get(ACTIVE_CACHE_KEY.format(model_type="localization")) == str(new.pk)


def test_failed_model_is_not_activated_in_admin(role_admin):
    _, client = role_admin
    failed = registered("localization", status="failed")
    client.post("/admin/ml/mlmodel/", action("activate", failed.pk))
    assert MLModel.objects.get(pk=failed.pk).status == "failed"


def test_station_status_actions_and_edits_go_through_the_service(
    role_admin, django_capture_on_commit_callbacks
):
    _, client = role_admin
    factories.station("twente-nl")
    with django_capture_on_commit_callbacks() as callbacks:
        client.post("/admin/stations/station/", {"action": "mark_inactive",
                                                 "_selected_action": ["twente-nl"]})  # fmt: skip
    assert Station.objects.get(pk="twente-nl").status == "inactive"
    assert callbacks  # station_update announces the status change to the live feed


def test_training_jobs_are_read_only_with_a_cancel_action(role_admin):
    _, client = role_admin
    job = TrainingJob.objects.create(job_name="j", config={}, total_epochs=3,
                                     model_architecture="deepsets", status="running")  # fmt: skip
    page = client.get(f"/admin/training/trainingjob/{job.pk}/change/").content.decode()
    assert 'name="_save"' not in page
    refused = client.post(f"/admin/training/trainingjob/{job.pk}/change/", {"job_name": "x"})
    assert refused.status_code == 403
    client.post("/admin/training/trainingjob/", {"action": "cancel",
                                                 "_selected_action": [str(job.pk)]})  # fmt: skip
    job.refresh_from_db()
    assert (job.job_name, job.status) == ("j", "cancelled")


def test_acknowledge_action_uses_the_service(role_admin):
    user, client = role_admin
    factories.station("twente-nl")
    factories.ingest(factories.detection(utc_now(), anomaly_score=0.9))
    event = AnomalyEvent.objects.get()
    client.post("/admin/anomalies/anomalyevent/", action("acknowledge", event.pk))
    event.refresh_from_db()
    assert event.acknowledged and event.acknowledged_by_id == user.pk


def test_role_admin_cannot_make_a_superuser(role_admin):
    _, client = role_admin
    other = make_user("otto", "operator")
    page = client.get(f"/admin/accounts/user/{other.pk}/change/").content.decode()
    assert 'name="is_superuser"' not in page


def test_constellation_added_in_admin_is_visible_to_its_owner(role_admin):
    from apps.constellations.access import constellation_for
    from apps.constellations.models import Constellation

    _, client = role_admin
    owner = make_user("otto", "operator")
    response = client.post("/admin/constellations/constellation/add/", {
        "owner": str(owner.pk), "name": "From admin", "description": "",
        "members-TOTAL_FORMS": "0", "members-INITIAL_FORMS": "0",
        "shares-TOTAL_FORMS": "0", "shares-INITIAL_FORMS": "0",
    })  # fmt: skip
    assert response.status_code == 302, response.content[:2000]
    constellation = Constellation.objects.get(name="From admin")
    assert constellation_for(owner, constellation.pk, "share") == constellation
