import numpy as np
import pytest
from django.core.files.storage import default_storage

from apps.training import generator, tasks
from apps.training.datasets import dataset_load
from apps.training.models import SyntheticDataset
from tests.helpers import assert_envelope
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
GENERATE = "/api/v1/training/synthetic/generate"
DATASETS = "/api/v1/training/synthetic/datasets"


def seed_params(**overrides):
    params = dict(
        num_samples=60,
        use_random_receivers=True,
        min_receivers_count=4,
        max_receivers_count=10,
        receiver_seed=42,
        area_lat_min=44.0,
        area_lat_max=46.0,
        area_lon_min=7.0,
        area_lon_max=10.0,
        frequency_mhz=145.0,
        tx_power_dbm=37.0,
        min_snr_db=3.0,
        min_receivers=3,
        max_gdop=10.0,
    )
    return generator.LocalizationParameters(**{**params, **overrides})


def test_localization_generation_is_reproducible_and_respects_constraints():
    first = generator.generate_localization(seed_params(), lambda done: None)
    again = generator.generate_localization(seed_params(), lambda done: None)
    other = generator.generate_localization(seed_params(receiver_seed=7), lambda done: None)
    for name in first:
        assert np.array_equal(first[name], again[name], equal_nan=True)
    assert not np.array_equal(first["targets"], other["targets"])
    heard = first["mask"].sum(axis=1)
    assert heard.min() >= 3 and heard.max() <= 10
    snr = first["receivers"][..., 3][first["mask"]]
    assert snr.min() >= 3.0
    assert first["gdop"].max() <= 10.0
    targets = first["targets"]
    assert (targets[:, 0] >= 44).all() and (targets[:, 0] <= 46).all()
    assert (targets[:, 1] >= 7).all() and (targets[:, 1] <= 10).all()
    assert (first["crb_m"] > 0).all()


def test_impossible_constraints_fail_with_a_reason():
    with pytest.raises(generator.GenerationError, match="widen the constraints"):
        generator.generate_localization(
            seed_params(num_samples=3, min_snr_db=60.0), lambda done: None
        )


def test_signals_generation_labels_every_class():
    arrays = generator.generate_signals(
        num_samples=80,
        seed=1,
        snr_min_db=10,
        snr_max_db=20,
        clip_samples=1024,
        progress=lambda done: None,
    )
    assert arrays["clips"].shape == (80, 1024)
    assert arrays["clips"].dtype == np.complex64
    assert set(arrays["labels"].tolist()) == set(range(len(generator.SIGNAL_CLASSES)))
    assert list(arrays["classes"]) == list(generator.SIGNAL_CLASSES)


def test_generate_minimal_request_fills_seed_defaults_and_queues(
    operator_client, django_capture_on_commit_callbacks
):
    from django_q.models import OrmQ

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(GENERATE, {"name": "Random receivers"}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending"
    assert body["dataset_type"] == "localization"
    assert body["parameters"] == {
        "num_samples": 10000,
        "use_random_receivers": True,
        "constellation_id": None,
        "min_receivers_count": 4,
        "max_receivers_count": 10,
        "receiver_seed": None,
        "area_lat_min": 44.0,
        "area_lat_max": 46.0,
        "area_lon_min": 7.0,
        "area_lon_max": 10.0,
        "frequency_mhz": 145.0,
        "tx_power_dbm": 37.0,
        "min_snr_db": 3.0,
        "min_receivers": 3,
        "max_gdop": 10.0,
        "snr_min_db": -5.0,
        "snr_max_db": 20.0,
        "clip_samples": 4096,
    }
    assert OrmQ.objects.count() == 1  # handed to the django-q2 broker after commit


def test_task_generates_stores_and_reports(operator_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        body = operator_client.post(
            GENERATE, {"name": "Small", "num_samples": 40, "receiver_seed": 3}, format="json"
        ).json()
    assert tasks.generate_dataset(body["id"]) == "ready"
    assert tasks.generate_dataset(body["id"]) == "skipped"  # idempotent
    detail = operator_client.get(f"{DATASETS}/{body['id']}").json()
    assert detail["status"] == "ready"
    assert detail["progress_percent"] == 100.0
    assert detail["samples_generated"] == 40
    assert detail["statistics"]["receivers_per_sample"]["min"] >= 3
    assert detail["statistics"]["gdop"]["median"] <= 10
    assert len(detail["artifact_sha256"]) == 64
    arrays = dataset_load(SyntheticDataset.objects.get(pk=body["id"]))
    assert arrays["targets"].shape == (40, 2)
    listed = operator_client.get(DATASETS, {"status": "ready"}).json()
    assert listed["total"] == 1 and listed["datasets"][0]["id"] == body["id"]


def test_failed_generation_records_the_reason(operator_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        body = operator_client.post(
            GENERATE, {"name": "Too strict", "num_samples": 2, "min_snr_db": 60}, format="json"
        ).json()
    assert tasks.generate_dataset(body["id"]) == "failed"
    dataset = SyntheticDataset.objects.get(pk=body["id"])
    assert dataset.status == "failed"
    assert "widen the constraints" in dataset.error_message


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": ""}, "name"),
        ({"num_samples": 0}, "num_samples"),
        ({"min_receivers_count": 2}, "min_receivers_count"),
        ({"max_receivers_count": 16}, "max_receivers_count"),
        ({"min_receivers_count": 8, "max_receivers_count": 5}, "max_receivers_count"),
        ({"area_lat_min": 46, "area_lat_max": 44}, "area_lat_max"),
        ({"area_lon_min": 200}, "area_lon_min"),
        ({"max_gdop": 0}, "max_gdop"),
        ({"dataset_type": "images"}, "dataset_type"),
        ({"receiver_seed": -1}, "receiver_seed"),
        ({"min_receivers": 12, "max_receivers_count": 10}, "min_receivers"),
        ({"frequency_mhz": "vhf"}, "frequency_mhz"),
    ],
)
def test_generate_validation(operator_client, change, field):
    response = operator_client.post(GENERATE, {"name": "x", **change}, format="json")
    assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert not SyntheticDataset.objects.exists()


def test_fixed_receivers_from_a_constellation(operator_user, operator_client):
    from apps.constellations.services import constellation_create, member_add

    constellation = constellation_create(owner=operator_user, name="Piedmont")
    for index, station_id in enumerate(["giaveno-it", "torino-it", "montanaro-it", "genova-it"]):
        StationFactory(
            id=station_id,
            latitude=44.4 + 0.3 * index,
            longitude=7.3 + 0.5 * index,
            frequency_min=144_000_000,
            frequency_max=440_000_000,
        )
        member_add(constellation=constellation, station_id=station_id, added_by=operator_user)
    body = operator_client.post(
        GENERATE,
        {
            "name": "Fixed",
            "use_random_receivers": False,
            "constellation_id": str(constellation.pk),
            "num_samples": 20,
            "receiver_seed": 1,
        },
        format="json",
    ).json()
    assert len(body["parameters"]["fixed_receivers"]) == 4
    assert tasks.generate_dataset(body["id"]) == "ready"
    arrays = dataset_load(SyntheticDataset.objects.get(pk=body["id"]))
    used = arrays["receivers"][..., :2][arrays["mask"]]
    stations = {
        (round(lat, 4), round(lon, 4)) for lat, lon in body["parameters"]["fixed_receivers"]
    }
    assert {(round(float(a), 4), round(float(b), 4)) for a, b in used} <= stations


def test_fixed_receivers_need_enough_stations(operator_client):
    StationFactory(id="lonely")
    response = operator_client.post(
        GENERATE, {"name": "x", "use_random_receivers": False}, format="json"
    )
    assert_envelope(response, 400, "VALIDATION_ERROR", "use_random_receivers")


def test_roles_and_delete(viewer_client, operator_client, django_capture_on_commit_callbacks):
    assert_envelope(
        viewer_client.post(GENERATE, {"name": "x"}, format="json"), 403, "PERMISSION_DENIED"
    )
    with django_capture_on_commit_callbacks(execute=True):
        body = operator_client.post(
            GENERATE, {"name": "Tmp", "num_samples": 10, "receiver_seed": 2}, format="json"
        ).json()
    tasks.generate_dataset(body["id"])
    assert viewer_client.get(f"{DATASETS}/{body['id']}").status_code == 200
    path = SyntheticDataset.objects.get(pk=body["id"]).artifact_path
    assert default_storage.exists(path)
    assert_envelope(viewer_client.delete(f"{DATASETS}/{body['id']}"), 403, "PERMISSION_DENIED")
    with django_capture_on_commit_callbacks(execute=True):
        assert operator_client.delete(f"{DATASETS}/{body['id']}").status_code == 204
    assert not SyntheticDataset.objects.exists()
    assert not default_storage.exists(path)
    assert_envelope(operator_client.get(f"{DATASETS}/{body['id']}"), 404, "NOT_FOUND")
