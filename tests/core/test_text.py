"""Names and free text (issue 12 §3): NFC, trimmed of invisible characters, at least one
visible character, before validation and uniqueness checks, in every app."""

import threading

import pytest
from django.contrib import admin
from django.db import connection
from django.test import RequestFactory

from apps.accounts.services import user_create
from apps.anomalies.models import AnomalyEvent
from apps.constellations.models import Constellation
from apps.core.exceptions import ValidationFailed
from apps.core.text import clean_text, normalize_text
from apps.stations.models import Station
from apps.training.models import SyntheticDataset, TrainingJob
from tests.helpers import assert_envelope, client_for, make_user
from tests.signals.factories import DetectionFactory, ingest
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db

CAFE_NFC = "Caf\u00e9"
CAFE_NFD = "Cafe\u0301"
FAMILY = "family \U0001f468\u200d\U0001f469\u200d\U0001f467"  # joiners inside stay
INVISIBLE = ["\u200b", " \u200b\u200c\u200d\ufeff ", "\u3164", "\u2800", "\u00a0", "\u0301",
             "\u202e", ""]  # fmt: skip


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        (f"  {CAFE_NFD}\u200b ", CAFE_NFC),
        ("\ufeffAlpha\u00a0", "Alpha"),
        ("\u202eRLO", "RLO"),
        (FAMILY + "\u200b", FAMILY),
        ("a\u0301", "\u00e1"),
    ],
)  # fmt: skip
def test_normalize_text(raw, clean):
    assert normalize_text(raw) == clean


@pytest.mark.parametrize("raw", INVISIBLE)
def test_a_name_without_a_visible_character_is_refused(raw):
    with pytest.raises(ValidationFailed) as caught:
        clean_text(raw, field="name", max_length=255)
    assert caught.value.details["field"] == "name"


def test_control_characters_and_length():
    with pytest.raises(ValidationFailed, match="control characters"):
        clean_text("a\x00b", field="name", max_length=255)
    assert (
        clean_text("line 1\nline 2\t", field="d", max_length=99, multiline=True) == "line 1\nline 2"
    )
    with pytest.raises(ValidationFailed, match="control characters"):
        clean_text("line 1\nline 2", field="name", max_length=255)
    # The length is counted after normalisation: 255 NFD letters are 255 characters.
    assert len(clean_text(" " + "e\u0301" * 255 + " ", field="name", max_length=255)) == 255


# --- every API that takes a name or free text ------------------------------------------


@pytest.mark.parametrize("raw", INVISIBLE)
def test_constellation_named_invisible_is_400(operator_client, raw):
    response = operator_client.post("/api/v1/constellations", {"name": raw}, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", "name")
    assert not Constellation.objects.exists()


def test_constellation_names_are_one_name_after_normalisation(operator_client):
    first = operator_client.post("/api/v1/constellations", {"name": f" {CAFE_NFD}\u200b"},
                                 format="json")  # fmt: skip
    assert first.status_code == 201
    assert first.json()["name"] == CAFE_NFC
    again = operator_client.post("/api/v1/constellations", {"name": CAFE_NFC}, format="json")
    assert_envelope(again, 409, "CONFLICT", "name")
    other = operator_client.post("/api/v1/constellations", {"name": "Other"}, format="json")
    rename = operator_client.put(f"/api/v1/constellations/{other.json()['id']}",
                                 {"name": CAFE_NFD + " "}, format="json")  # fmt: skip
    assert_envelope(rename, 409, "CONFLICT", "name")
    assert sorted(Constellation.objects.values_list("name", flat=True)) == [CAFE_NFC, "Other"]


def test_constellation_description_is_free_text(operator_client):
    body = operator_client.post(
        "/api/v1/constellations",
        {"name": "North", "description": "\u200b two\nlines \u200b"},
        format="json",
    ).json()
    assert body["description"] == "two\nlines"
    body = operator_client.post(
        "/api/v1/constellations", {"name": "South", "description": "\u200b"}, format="json"
    ).json()
    assert body["description"] == ""


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_creates_of_one_normalised_name(operator_user):
    """Two spellings of one name at the same moment: one 201, one 409, one row."""
    clients = [client_for(operator_user), client_for(operator_user)]
    barrier = threading.Barrier(2)
    statuses = []

    def create(client, name):
        barrier.wait()
        statuses.append(client.post("/api/v1/constellations", {"name": name},
                                    format="json").status_code)  # fmt: skip
        connection.close()

    threads = [threading.Thread(target=create, args=(c, n))
               for c, n in zip(clients, [CAFE_NFC, f"{CAFE_NFD} "], strict=True)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201, 409]
    assert list(Constellation.objects.values_list("name", flat=True)) == [CAFE_NFC]


def test_station_name_and_location(admin_client):
    payload = {"id": "kiwi-1", "name": "\u200b", "url": "http://kiwi.example.org:8073/",
               "latitude": 52.0, "longitude": 6.0, "frequency_min": 0,
               "frequency_max": 30_000_000}  # fmt: skip
    assert_envelope(admin_client.post("/api/v1/stations", payload, format="json"), 400,
                    "VALIDATION_ERROR", "name")  # fmt: skip
    assert not Station.objects.exists()
    payload |= {"name": f" {CAFE_NFD} ", "location": "\u200bEnschede "}
    body = admin_client.post("/api/v1/stations", payload, format="json").json()
    assert (body["name"], body["location"]) == (CAFE_NFC, "Enschede")
    response = admin_client.patch("/api/v1/stations/kiwi-1", {"name": "\u3164"}, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", "name")
    assert Station.objects.get().name == CAFE_NFC


def test_station_service_normalises_for_every_caller():
    from apps.stations.services import station_create

    station = station_create(id="s1", name=f"{CAFE_NFD}\u200b", url="http://x.example.org/",
                             latitude=1.0, longitude=2.0, frequency_min=0,
                             frequency_max=10)  # fmt: skip
    assert station.name == CAFE_NFC


def test_acknowledge_notes(operator_client):
    from apps.core.timeutil import utc_now

    StationFactory(id="twente-nl")
    ingest(DetectionFactory(when=utc_now(), anomaly_score=0.99))
    event = AnomalyEvent.objects.get()
    url = f"/api/v1/anomalies/{event.pk}/acknowledge"
    assert_envelope(operator_client.post(url, {"notes": "be\x07ll"}, format="json"), 400,
                    "VALIDATION_ERROR", "notes")  # fmt: skip
    assert AnomalyEvent.objects.get().acknowledged is False
    body = operator_client.post(url, {"notes": f" {CAFE_NFD}\u200b\n"}, format="json").json()
    assert body["notes"] == CAFE_NFC


def test_training_dataset_and_job_names(operator_client):
    response = operator_client.post("/api/v1/training/synthetic/generate", {"name": "\u200b"},
                                    format="json")  # fmt: skip
    assert_envelope(response, 400, "VALIDATION_ERROR", "name")
    assert not SyntheticDataset.objects.exists()
    response = operator_client.post("/api/v1/training/jobs", {"job_name": "\u2800"},
                                    format="json")  # fmt: skip
    assert_envelope(response, 400, "VALIDATION_ERROR", "job_name")
    assert not TrainingJob.objects.exists()


def test_usernames_and_display_names():
    with pytest.raises(ValidationFailed) as caught:
        user_create(username="\u200b", password="x", role="viewer", validate=False)
    assert caught.value.details["field"] == "username"
    user = user_create(username="\uff41lice", password="x", role="viewer", validate=False,
                       display_name=f" {CAFE_NFD} ")  # fmt: skip
    assert (user.username, user.display_name) == ("alice", CAFE_NFC)


def test_django_admin_forms_follow_the_same_rules():
    owner = make_user("olga", "operator")
    model_admin = admin.site._registry[Constellation]
    request = RequestFactory().get("/admin/")
    request.user = make_user("root", "admin")
    form_class = model_admin.get_form(request)
    form = form_class(data={"name": "\u200b", "description": "", "owner": owner.pk})
    assert not form.is_valid()
    assert "name" in form.errors
    form = form_class(data={"name": f" {CAFE_NFD} ", "description": "", "owner": owner.pk})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["name"] == CAFE_NFC
