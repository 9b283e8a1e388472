"""Writes from the console: the API's checks (inline errors, nothing written) and services."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.test import Client

from apps.anomalies.models import AnomalyEvent
from apps.constellations import services as constellation_services
from apps.constellations.models import Constellation, ConstellationShare
from apps.core.timeutil import utc_now
from apps.ml.models import MLModel
from apps.ml.services import ACTIVE_CACHE_KEY, model_activate
from apps.stations.models import Station
from apps.training.models import SyntheticDataset, TrainingJob
from tests.dashboard import data as factories
from tests.helpers import make_user
from tests.ml.factories import registered

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user, backend=factories.SESSION_BACKEND)
    return client


@pytest.fixture
def operator(db):
    return make_user("otto", "operator")


@pytest.fixture
def admin(db):
    return make_user("ada", "admin")


@pytest.fixture
def event(db):
    factories.station("twente-nl")
    factories.ingest(factories.detection(utc_now() - timedelta(minutes=1), anomaly_score=0.9))
    return AnomalyEvent.objects.get()


def test_operator_acknowledges_with_notes_then_conflict(operator, event):
    client = _client(operator)
    url = f"/anomalies/{event.pk}"
    response = client.post(url, {"notes": "Known beacon, checked."})
    assert response.status_code == 302 and response["Location"] == url
    event.refresh_from_db()
    assert (event.acknowledged, event.acknowledged_by_id, event.notes) == (
        True, operator.pk, "Known beacon, checked.")  # fmt: skip
    page = client.get(url).content.decode()
    assert 'data-acknowledged="true"' in page and "Known beacon, checked." in page
    again = client.post(url, {"notes": "second"})
    assert again.status_code == 409
    assert "already acknowledged" in again.content.decode()
    event.refresh_from_db()
    assert event.notes == "Known beacon, checked."


def test_acknowledge_over_htmx_returns_the_panel(operator, event):
    response = _client(operator).post(
        f"/anomalies/{event.pk}", {"notes": ""}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert body.startswith("<h2>Acknowledgement</h2>") and 'data-acknowledged="true"' in body


def test_acknowledge_notes_too_long_is_refused_inline(operator, event):
    response = _client(operator).post(f"/anomalies/{event.pk}", {"notes": "x" * 2001})
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="field invalid"' in html and "2000" in html.split('id="id_notes"')[1]
    event.refresh_from_db()
    assert event.acknowledged is False and event.notes == ""


def test_unknown_and_malformed_anomaly_ids_are_404(operator, event):
    client = _client(operator)
    assert client.get("/anomalies/not-a-uuid").status_code == 404
    assert client.get("/anomalies/00000000-0000-0000-0000-000000000000").status_code == 404
    assert client.post("/anomalies/00000000-0000-0000-0000-000000000000").status_code == 404


def test_anomaly_filters_are_the_apis_and_errors_name_the_field(operator, event):
    client = _client(operator)
    assert str(event.pk) in client.get("/anomalies?severity=high").content.decode()
    assert str(event.pk) not in client.get("/anomalies?severity=low").content.decode()
    assert str(event.pk) not in client.get("/anomalies?acknowledged=true").content.decode()
    bad = client.get("/anomalies?acknowledged=maybe")
    assert bad.status_code == 400
    assert "<code>acknowledged</code>: must be true or false" in bad.content.decode()
    unknown = client.get("/anomalies?station=nowhere")
    assert unknown.status_code == 400 and "unknown station" in unknown.content.decode()
    partial = client.get("/anomalies?severity=high", HTTP_HX_REQUEST="true")
    assert partial.status_code == 200 and b"<html" not in partial.content
    assert partial["Vary"] and "HX-Request" in partial["Vary"]


STATION = {"name": "Twente", "url": "http://websdr.example.org/", "location": "Enschede",
           "latitude": "52.2", "longitude": "6.85", "frequency_min": "0",
           "frequency_max": "29000000", "status": "maintenance",
           "api_config": '{"api_type": "simulated", "poll_interval": 2}'}  # fmt: skip


def test_admin_edits_a_station_through_the_service(admin, django_capture_on_commit_callbacks):
    factories.station("twente-nl")
    client = _client(admin)
    assert b'id="station-form"' in client.get("/stations/twente-nl/edit").content
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/stations/twente-nl/edit", STATION)
    assert response.status_code == 302 and response["Location"] == "/stations/twente-nl"
    station = Station.objects.get(pk="twente-nl")
    assert (station.name, station.status, station.api_config["poll_interval"]) == (
        "Twente", "maintenance", 2)  # fmt: skip
    assert callbacks, "station_update announces the status change after commit"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"frequency_min": "29000000"}, "frequency_max", "must be greater than frequency_min"),
        ({"frequency_max": "0"}, "frequency_max", "greater than or equal to 1."),
        ({"latitude": "91"}, "latitude", "Ensure this value is less than or equal to 90."),
        ({"api_config": "{not json"}, "api_config", "must be valid JSON"),
        # what the API refuses in api_config, the form refuses too (it read NUL, NaN before)
        (
            {"api_config": '{"api_type": "simulated", "x": "a\\u0000"}'},
            "api_config",
            "x: must not contain NUL",
        ),
        (
            {"api_config": '{"api_type": "simulated", "timeout": NaN}'},
            "api_config",
            "timeout: must be a finite number",
        ),
        ({"api_config": '{"api_type": "telnet"}'}, "api_config", "api_type: must be one of"),
        ({"status": "exploded"}, "status", "is not a valid choice"),
    ],
)
def test_station_edit_refusals_are_inline_and_change_nothing(admin, change, field, message):
    factories.station("twente-nl")
    before = Station.objects.values().get(pk="twente-nl")
    response = _client(admin).post("/stations/twente-nl/edit", {**STATION, **change})
    assert response.status_code == 400
    html = response.content.decode()
    assert f'class="field invalid" data-field="{field}"' in html
    assert message in html
    assert Station.objects.values().get(pk="twente-nl") == before


def test_admin_creates_a_station_and_a_duplicate_is_a_conflict(admin):
    client = _client(admin)
    response = client.post("/stations/new", {**STATION, "id": "maasbree-nl"})
    assert response.status_code == 302
    assert Station.objects.filter(pk="maasbree-nl", name="Twente").exists()
    again = client.post("/stations/new", {**STATION, "id": "maasbree-nl", "name": "Other"})
    assert again.status_code == 409
    assert Station.objects.get(pk="maasbree-nl").name == "Twente"
    bad_id = client.post("/stations/new", {**STATION, "id": "Bad Id"})
    assert bad_id.status_code == 400 and Station.objects.count() == 1


def test_new_job_form_shows_seed_000_defaults(operator):
    html = _client(operator).get("/training/jobs/new").content.decode()
    for name, default in [("batch_size", "32"), ("epochs", "100"), ("learning_rate", "0.001"),
                          ("n_mels", "128"), ("n_fft", "2048"), ("hop_length", "512"),
                          ("warmup_epochs", "5"), ("early_stop_patience", "10")]:  # fmt: skip
        assert f'name="{name}" id="id_{name}"' in html
        assert f'value="{default}"' in html.split(f'name="{name}"')[1].split(">")[0], name
    assert 'name="pretrained" id="id_pretrained" checked' in html
    assert '<option value="cosine" selected>' in html


def test_new_job_is_queued_with_the_form_config(operator, django_capture_on_commit_callbacks):
    dataset = SyntheticDataset.objects.create(
        name="loc", num_samples=50, status="pending", parameters={"num_samples": 50}
    )
    form = {
        "job_name": "from the console",
        "model_architecture": "deepsets",
        "epochs": "3",
        "batch_size": "16",
        "learning_rate": "0.01",
        "warmup_epochs": "0",
        "dataset_id": str(dataset.pk),
        "lr_scheduler": "step",
        "accelerator": "cpu",
        "validation_split": "0.25",
    }  # fmt: skip  (pretrained unticked)
    with django_capture_on_commit_callbacks() as callbacks:
        response = _client(operator).post("/training/jobs/new", form)
    assert response.status_code == 302
    job = TrainingJob.objects.get()
    assert response["Location"] == f"/training/jobs/{job.pk}"
    assert (job.status, job.total_epochs, job.dataset_id, job.created_by_id) == (
        "queued", 3, dataset.pk, operator.pk)  # fmt: skip
    assert job.config["batch_size"] == 16 and job.config["learning_rate"] == 0.01
    assert job.config["pretrained"] is False and job.config["n_mels"] == 128
    assert job.config["lr_scheduler"] == "step" and job.config["validation_split"] == 0.25
    assert len(callbacks) == 2  # the training task and the queued event, after commit


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"epochs": "0"}, "epochs", "Ensure this value is greater than or equal to 1."),
        ({"batch_size": "513"}, "batch_size", "less than or equal to 512"),
        ({"n_fft": "1000"}, "n_fft", "must be a power of two"),
        ({"warmup_epochs": "10", "epochs": "5"}, "warmup_epochs", "must be fewer than epochs"),
        ({"model_architecture": "resnet"}, "model_architecture", "is not a valid choice"),
        ({"learning_rate": "abc"}, "learning_rate", "A valid number is required."),
        ({"job_name": ""}, "job_name", "may not be blank"),
        ({"dataset_id": "00000000-0000-0000-0000-000000000000"}, "dataset_id", "unknown dataset"),
    ],
)
def test_new_job_errors_inline_and_nothing_created(operator, change, field, message):
    form = {"job_name": "bad", "epochs": "5", "warmup_epochs": "0", **change}
    response = _client(operator).post("/training/jobs/new", form)
    assert response.status_code == 400, response.content[:300]
    html = response.content.decode()
    assert f'class="field invalid" data-field="{field}"' in html, field
    assert message in html
    assert not TrainingJob.objects.exists()


def test_cancel_a_running_job_then_conflict(operator):
    job = TrainingJob.objects.create(
        job_name="j", config={}, total_epochs=5, model_architecture="deepsets", status="running",
        created_by=operator,
    )  # fmt: skip
    other = _client(make_user("olga", "operator"))
    page = other.get(f"/training/jobs/{job.pk}").content.decode()
    assert 'id="cancel"' not in page  # only its creator or an admin cancels
    assert other.post(f"/training/jobs/{job.pk}").status_code == 403
    job.refresh_from_db()
    assert job.status == "running"
    client = _client(operator)
    assert client.post(f"/training/jobs/{job.pk}").status_code == 302
    job.refresh_from_db()
    assert job.status == "cancelled"
    again = client.post(f"/training/jobs/{job.pk}")
    assert again.status_code == 409 and "already cancelled" in again.content.decode()


def test_generate_a_dataset_and_refusals(operator, django_capture_on_commit_callbacks):
    client = _client(operator)
    bad = client.post("/training/datasets", {"name": "d", "num_samples": "0",
                                             "use_random_receivers": "on"})  # fmt: skip
    assert bad.status_code == 400
    assert 'class="field invalid" data-field="num_samples"' in bad.content.decode()
    inverted = client.post("/training/datasets", {"name": "d", "area_lat_min": "46",
                                                  "area_lat_max": "44",
                                                  "use_random_receivers": "on"})  # fmt: skip
    assert inverted.status_code == 400 and "must be above area_lat_min" in inverted.content.decode()
    assert not SyntheticDataset.objects.exists()
    with django_capture_on_commit_callbacks() as callbacks:
        ok = client.post("/training/datasets", {"name": "console set", "num_samples": "200",
                                                "use_random_receivers": "on",
                                                "receiver_seed": "7"})  # fmt: skip
    assert ok.status_code == 302
    dataset = SyntheticDataset.objects.get()
    assert (dataset.name, dataset.num_samples, dataset.status) == ("console set", 200, "pending")
    assert dataset.parameters["receiver_seed"] == 7 and len(callbacks) == 1
    # Fixed receivers need as many active stations as min_receivers: said on the field.
    fixed = client.post("/training/datasets", {"name": "fixed", "num_samples": "10"})
    assert fixed.status_code == 400 and "fixed receivers" in fixed.content.decode()
    assert SyntheticDataset.objects.count() == 1


def test_admin_activates_a_model_and_the_live_scorer_hears(
    admin, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        old = registered("localization", version="1.0.0")
        model_activate(model=old)
    new = registered("localization", version="2.0.0")
    with django_capture_on_commit_callbacks(execute=True):
        response = _client(admin).post(f"/models/{new.pk}")
    assert response.status_code == 302
    new.refresh_from_db()
    old.refresh_from_db()
    assert (new.status, old.status) == ("deployed", "deprecated")
    assert cache.get(ACTIVE_CACHE_KEY.format(model_type="localization")) == str(new.pk)


def test_failed_model_cannot_be_activated(admin):
    failed = registered("localization", status="failed")
    page = _client(admin).get(f"/models/{failed.pk}").content.decode()
    assert 'id="activate"' not in page
    response = _client(admin).post(f"/models/{failed.pk}")
    assert response.status_code == 409 and "cannot be deployed" in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == "failed"


def test_model_without_a_valid_bundle_says_why(admin):
    bare = MLModel.objects.create(name="bare", version="1", model_type="localization",
                                  status="trained")  # fmt: skip
    page = _client(admin).get(f"/models/{bare.pk}")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="invalid-bundle"' in html and 'id="activate"' not in html
    assert _client(admin).post(f"/models/{bare.pk}").status_code == 409
    bare.refresh_from_db()
    assert bare.status == "trained"


def test_confusion_matrix_heat_map_from_the_inspection(admin):
    metrics = {"accuracy": 0.875, "classes": ["am", "fm"], "confusion_matrix": [[3, 1], [0, 4]]}
    model = registered("signal_classification", metrics=metrics)
    html = _client(admin).get(f"/models/{model.pk}").content.decode()
    table = html.split('id="confusion"')[1].split("</table>")[0]
    assert table.count('class="cell"') == 4
    assert 'title="75.0 %">3</td>' in table and 'title="100.0 %">4</td>' in table
    per_class = html.split('id="per-class"')[1].split("</table>")[0]
    assert "<td>am</td>" in per_class and "am taken for fm: 1" in html


def test_constellation_members_and_shares(operator, db):
    factories.station("twente-nl")
    factories.station("hackgreen-uk")
    viewer = make_user("vera", "viewer")
    client = _client(operator)
    created = client.post("/constellations", {"name": "North Sea", "description": ""})
    assert created.status_code == 302
    constellation = Constellation.objects.get(name="North Sea")
    url = f"/constellations/{constellation.pk}"
    assert created["Location"] == url
    duplicate = client.post("/constellations", {"name": "North Sea"})
    assert duplicate.status_code == 409 and Constellation.objects.count() == 1
    assert client.post(url, {"action": "add_member",
                             "websdr_station_id": "twente-nl"}).status_code == 302  # fmt: skip
    unknown = client.post(url, {"action": "add_member", "websdr_station_id": "nowhere"})
    assert unknown.status_code == 400 and "unknown station" in unknown.content.decode()
    assert client.post(url, {"action": "share", "username": "vera",
                             "permission": "read"}).status_code == 302  # fmt: skip
    edit = client.post(url, {"action": "reshare", "user_id": str(viewer.pk),
                             "permission": "edit"})  # fmt: skip
    assert edit.status_code == 400 and "read-only" in edit.content.decode()
    nobody = client.post(url, {"action": "share", "username": "ghost", "permission": "read"})
    assert nobody.status_code == 400 and "unknown user" in nobody.content.decode()
    assert list(constellation.members.values_list("station_id", flat=True)) == ["twente-nl"]
    assert list(ConstellationShare.objects.values_list("user__username", "permission")) == [
        ("vera", "read")]  # fmt: skip
    assert client.post(url, {"action": "revoke", "user_id": str(viewer.pk)}).status_code == 302
    assert client.post(url, {"action": "remove_member",
                             "websdr_station_id": "twente-nl"}).status_code == 302  # fmt: skip
    assert not constellation.members.exists() and not ConstellationShare.objects.exists()
    assert client.post(url, {"action": "explode"}).status_code == 400


def test_edit_share_may_add_members_but_not_share(operator, db):
    factories.station("twente-nl")
    owner = make_user("olga", "operator")
    constellation = constellation_services.constellation_create(owner=owner, name="Olga's")
    constellation_services.share_create(constellation=constellation, user_id=operator.pk,
                                        permission="edit", shared_by=owner)  # fmt: skip
    client = _client(operator)
    url = f"/constellations/{constellation.pk}"
    html = client.get(url).content.decode()
    assert 'id="member-add"' in html and 'id="share-add"' not in html
    assert client.post(url, {"action": "add_member",
                             "websdr_station_id": "twente-nl"}).status_code == 302  # fmt: skip
    refused = client.post(url, {"action": "share", "username": "otto", "permission": "read"})
    assert refused.status_code == 403
    assert not ConstellationShare.objects.exclude(user=operator).exists()


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/anomalies?page=0", "page"),
        ("/anomalies?page_size=5000", "page_size"),
        ("/stations?status=exploded", "status"),
        ("/training?status=sleeping", "status"),
        ("/training?page=x", "page"),
        ("/training/datasets?page=-1", "page"),
        ("/models?model_type=oracle", "model_type"),
        ("/constellations?skip=-1", "skip"),
        ("/constellations?limit=0", "limit"),
    ],
)
def test_bad_query_parameters_are_400_naming_them(operator, url, field):
    response = _client(operator).get(url)
    assert response.status_code == 400, url
    assert f"<code>{field}</code>" in response.content.decode()


def test_generate_with_a_constellations_stations_as_fixed_receivers(operator):
    constellation = constellation_services.constellation_create(owner=operator, name="Three")
    for index, station_id in enumerate(["a-nl", "b-nl", "c-nl"]):
        factories.station(station_id, latitude=52.0 + index, longitude=6.0)
        constellation_services.member_add(constellation=constellation, station_id=station_id,
                                          added_by=operator)  # fmt: skip
    client = _client(operator)
    assert (
        f'<option value="{constellation.pk}"' in client.get("/training/datasets").content.decode()
    )
    form = {
        "name": "fixed",
        "num_samples": "10",
        "frequency_mhz": "14.2",
        "constellation_id": str(constellation.pk),
    }  # the HF members cover 14.2 MHz
    response = client.post("/training/datasets", form)
    assert response.status_code == 302
    dataset = SyntheticDataset.objects.get()
    assert dataset.parameters["use_random_receivers"] is False
    assert [r[:2] for r in dataset.parameters["fixed_receivers"]] == [
        [52.0, 6.0],
        [53.0, 6.0],
        [54.0, 6.0],
    ]
    assert dataset.parameters["constellation_id"] == str(constellation.pk)
