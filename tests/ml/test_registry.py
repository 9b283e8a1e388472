"""The model registry (seed 003) on /api/v1/models: records, the state machine, bundles
(validity, download, inspect: seed 001), the worker callbacks and the trainer role."""

import hashlib
import io
import json
import zipfile

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from rest_framework.test import APIClient

from apps.ml.models import MLModel
from tests.helpers import assert_envelope, client_for, make_user
from tests.ml import factories

pytestmark = pytest.mark.django_db
MODELS = "/api/v1/models"


@pytest.fixture
def trainer_client(db):
    return client_for(make_user("ci-trainer", "trainer"))


def snapshot() -> list:
    return sorted(
        MLModel.objects.values_list(
            "id",
            "name",
            "version",
            "status",
            "description",
            "metrics",
            "metadata",
            "failure_reason",
            "artifact_path",
            "updated_at",
        )
    )


# --- create ------------------------------------------------------------------------------


SEED_003_BODY = {
    "project_id": "proj-123",  # seed 003's project/ontology ids: not Heimdall concepts, ignored
    "ontology_id": "onto-456",
    "name": "Transmitter Locator",
    "description": "Locates transmitters from RSS",
    "model_type": "localization",
    "training_config": {
        "train_test_split": 0.8,
        "random_seed": 42,
        "learning_rate": 0.001,
        "batch_size": 32,
    },
}


@pytest.mark.parametrize(
    ("role", "expected"),
    [("anonymous", 401), ("viewer", 403), ("trainer", 403), ("operator", 201), ("admin", 201)],
)
def test_create_by_role(role, expected, db):
    client = APIClient() if role == "anonymous" else client_for(make_user(f"u-{role}", role))
    response = client.post(MODELS, SEED_003_BODY, format="json")
    assert response.status_code == expected, response.content
    if expected == 201:
        body = response.json()
        assert (body["status"], body["version"], body["architecture"]) == (
            "draft",
            "1.0.0",
            "deepsets",
        )
        assert body["training_config"] == {
            "validation_split": 0.2,
            "random_seed": 42,
            "learning_rate": 0.001,
            "batch_size": 32,
        }
        assert (body["valid"], body["invalid_reason"]) == (
            False,
            "no bundle: the model has not been trained",
        )
        assert body["created_by"] is not None
    else:
        assert not MLModel.objects.exists()


def test_create_normalises_the_name_before_the_uniqueness_check(operator_client):
    first = operator_client.post(
        MODELS, {**SEED_003_BODY, "name": "Cafe\u0301 model"}, format="json"
    )
    second = operator_client.post(
        MODELS, {**SEED_003_BODY, "name": " Café model\u200b"}, format="json"
    )
    assert first.status_code == second.status_code == 201
    assert first.json()["name"] == second.json()["name"] == "Café model"
    assert second.json()["version"] != first.json()["version"]  # the same name, versioned


def test_create_versions_the_same_name(operator_client):
    first = operator_client.post(MODELS, SEED_003_BODY, format="json").json()
    second = operator_client.post(MODELS, SEED_003_BODY, format="json").json()
    assert (first["version"], second["version"]) == ("1.0.0", "1.0.1")
    taken = operator_client.post(MODELS, {**SEED_003_BODY, "version": "1.0.0"}, format="json")
    assert_envelope(taken, 409, "CONFLICT")


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"name": ""}, {"name"}),
        ({"name": "\u200b"}, {"name"}),  # no visible character
        ({"description": "x" * 5001}, {"description"}),
        ({"model_type": "neural_network"}, {"model_type"}),
        ({"architecture": "convnext_tiny"}, {"architecture"}),
        ({"training_config": []}, {"training_config"}),
        (
            {"training_config": {"epochs": 0, "batch_size": 999, "lr_scheduler": "linear"}},
            {
                "training_config.epochs",
                "training_config.batch_size",
                "training_config.lr_scheduler",
            },
        ),
        (
            {"training_config": {"model_architecture": "convnext_tiny"}},
            {"training_config.model_architecture"},
        ),
        ({"metadata": "x"}, {"metadata"}),
        ({"version": "v1"}, {"version"}),
        ({"name": "", "model_type": "x"}, {"name", "model_type"}),
    ],
)
def test_create_bad_input_names_every_field(operator_client, change, fields):
    response = operator_client.post(MODELS, {**SEED_003_BODY, **change}, format="json")
    error = assert_envelope(response, 400, "VALIDATION_ERROR")
    assert set(error["details"]["fields"]) == fields
    assert not MLModel.objects.exists()


# --- update: the state machine --------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "target", "expected"),
    [
        ("draft", "training", 200),
        ("draft", "archived", 200),
        ("draft", "trained", 409),
        ("draft", "deployed", 409),
        ("training", "failed", 409),
        ("training", "trained", 409),
        ("trained", "deprecated", 200),
        ("trained", "draft", 409),
        ("failed", "draft", 200),
        ("deployed", "degraded", 200),
        ("deployed", "archived", 409),
        ("degraded", "deprecated", 200),
        ("deprecated", "archived", 200),
        ("archived", "deprecated", 200),
        ("archived", "training", 409),
    ],
)
def test_status_moves_follow_the_state_machine(
    operator_user, operator_client, start, target, expected
):
    model = factories.registered(created_by=operator_user, status=start)
    before = snapshot()
    response = operator_client.put(f"{MODELS}/{model.pk}", {"status": target}, format="json")
    assert response.status_code == expected, response.content
    if expected == 409:
        error = assert_envelope(response, 409, "CONFLICT")
        assert (error["details"]["from"], error["details"]["to"]) == (start, target)
        assert snapshot() == before
    else:
        assert response.json()["status"] == target


def test_update_fields_and_refusals(operator_user, operator_client, admin_client):
    model = factories.draft(operator_user)
    body = {
        "name": "Renamed",
        "description": "d",
        "performance_metrics": {"f1_score": 0.9},
        "training_metrics": {"epoch": 5},
        "metadata": {"team": "rf"},
    }
    updated = operator_client.put(f"{MODELS}/{model.pk}", body, format="json").json()
    assert updated["name"] == "Renamed" and updated["metrics"] == {"f1_score": 0.9}
    assert updated["performance_metrics"] == {"f1_score": 0.9}
    assert updated["training_metrics"] == {"epoch": 5} and updated["metadata"] == {"team": "rf"}
    before = snapshot()
    bad = operator_client.put(
        f"{MODELS}/{model.pk}", {"status": "sleepy", "metadata": 3}, format="json"
    )
    error = assert_envelope(bad, 400, "VALIDATION_ERROR")
    assert set(error["details"]["fields"]) == {"status", "metadata"}
    other = client_for(make_user("oscar", "operator"))
    assert_envelope(
        other.put(f"{MODELS}/{model.pk}", {"description": "x"}, format="json"),
        403,
        "PERMISSION_DENIED",
    )
    assert snapshot() == before
    assert (
        admin_client.put(
            f"{MODELS}/{model.pk}", {"description": "admin"}, format="json"
        ).status_code
        == 200
    )
    assert_envelope(
        operator_client.put(
            f"{MODELS}/00000000-0000-0000-0000-000000000000", {"description": "x"}, format="json"
        ),
        404,
        "NOT_FOUND",
    )


def test_patch_merges_the_json_objects_and_put_replaces_them(operator_user, operator_client):
    model = factories.draft(operator_user)
    start = {
        "metadata": {"team": "rf", "site": {"name": "twente", "mast": 2}},
        "performance_metrics": {"f1_score": 0.9, "accuracy": 0.8},
        "training_metrics": {"epoch": 5, "loss": 0.25},
    }
    assert operator_client.put(f"{MODELS}/{model.pk}", start, format="json").status_code == 200
    patched = operator_client.patch(
        f"{MODELS}/{model.pk}",
        {
            "metadata": {"site": {"mast": None, "band": "hf"}, "owner": "ana"},
            "performance_metrics": {"accuracy": None},
            "training_metrics": {"loss": 0.125},
        },
        format="json",
    )
    assert patched.status_code == 200, patched.content
    model.refresh_from_db()
    assert model.metadata == {
        "team": "rf",
        "site": {"name": "twente", "band": "hf"},
        "owner": "ana",
    }
    assert model.metrics == {"f1_score": 0.9}
    assert model.training_metrics == {"epoch": 5, "loss": 0.125}
    assert patched.json()["metadata"] == model.metadata
    # a refused PATCH changes nothing; PUT replaces the object
    before = snapshot()
    assert_envelope(
        operator_client.patch(f"{MODELS}/{model.pk}", {"metadata": None}, format="json"),
        400,
        "VALIDATION_ERROR",
        "metadata",
    )
    assert snapshot() == before
    replaced = operator_client.put(f"{MODELS}/{model.pk}", {"metadata": {"x": 1}}, format="json")
    assert replaced.status_code == 200
    model.refresh_from_db()
    assert model.metadata == {"x": 1} and model.metrics == {"f1_score": 0.9}


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_patches_of_different_metadata_keys_both_land(operator_user):
    from tests.helpers import together

    model = factories.draft(operator_user, metadata={"team": "rf"})
    clients = [client_for(operator_user), client_for(operator_user)]
    bodies = [{"metadata": {"a": 1}}, {"metadata": {"b": 2}}]
    responses = together(
        [
            lambda c=c, b=b: c.patch(f"{MODELS}/{model.pk}", b, format="json")
            for c, b in zip(clients, bodies, strict=True)
        ]
    )
    assert [r.status_code for r in responses] == [200, 200]
    model.refresh_from_db()
    assert model.metadata == {"team": "rf", "a": 1, "b": 2}


# --- delete ------------------------------------------------------------------------------------


def test_delete_removes_the_bundle(
    operator_user, operator_client, django_capture_on_commit_callbacks
):
    model = factories.registered(created_by=operator_user)
    folder = model.artifact_path.rsplit("/", 1)[0]
    assert default_storage.exists(f"{folder}/bundle.json")
    with django_capture_on_commit_callbacks(execute=True):
        assert operator_client.delete(f"{MODELS}/{model.pk}").status_code == 204
    assert not MLModel.objects.exists()
    for name in ("model.onnx", "normalisation.json", "metrics.json", "bundle.json"):
        assert not default_storage.exists(f"{folder}/{name}")


@pytest.mark.parametrize("status", ["deployed", "degraded", "training"])
def test_delete_of_a_serving_or_training_model_is_409(admin_client, status):
    model = factories.registered(status=status)
    assert_envelope(admin_client.delete(f"{MODELS}/{model.pk}"), 409, "CONFLICT")
    assert MLModel.objects.filter(pk=model.pk).exists()
    assert default_storage.exists(model.artifact_path)


def test_only_creator_or_admin_deletes(operator_user, viewer_client, admin_client, db):
    model = factories.registered(created_by=operator_user)
    other = client_for(make_user("oscar", "operator"))
    assert_envelope(other.delete(f"{MODELS}/{model.pk}"), 403, "PERMISSION_DENIED")
    assert_envelope(viewer_client.delete(f"{MODELS}/{model.pk}"), 403, "PERMISSION_DENIED")
    assert MLModel.objects.filter(pk=model.pk).exists()
    assert admin_client.delete(f"{MODELS}/{model.pk}").status_code == 204


# --- validity, download, inspect -------------------------------------------------------------


def _folder(model) -> str:
    return model.artifact_path.rsplit("/", 1)[0]


def test_valid_and_the_reasons_a_bundle_is_not(viewer_client):
    model = factories.registered()
    item = viewer_client.get(f"{MODELS}/{model.pk}").json()
    assert (item["valid"], item["invalid_reason"]) == (True, None)
    # hash mismatch: the file changed after registration
    with default_storage.open(model.artifact_path, "wb") as handle:
        handle.write(factories.tiny_onnx(features=5))
    item = viewer_client.get(MODELS).json()["data"][0]
    assert (item["valid"], item["invalid_reason"]) == (False, "hash mismatch: model.onnx")
    # files missing
    default_storage.delete(f"{_folder(model)}/normalisation.json")
    item = viewer_client.get(f"{MODELS}/{model.pk}").json()
    assert item["invalid_reason"] == "bundle files missing: normalisation.json"


def test_an_unloadable_onnx_file_is_invalid(viewer_client):
    model = factories.registered()
    garbage = b"not an onnx model"
    path = model.artifact_path
    default_storage.delete(path)
    default_storage.save(path, ContentFile(garbage))
    manifest_path = f"{_folder(model)}/bundle.json"
    manifest = json.loads(default_storage.open(manifest_path).read())
    manifest["files"]["model.onnx"]["sha256"] = hashlib.sha256(garbage).hexdigest()
    default_storage.delete(manifest_path)
    default_storage.save(manifest_path, ContentFile(json.dumps(manifest).encode()))
    MLModel.objects.filter(pk=model.pk).update(artifact_sha256=hashlib.sha256(garbage).hexdigest())
    item = viewer_client.get(f"{MODELS}/{model.pk}").json()
    assert item["valid"] is False and item["invalid_reason"].startswith("ONNX not loadable: ")
    assert_envelope(viewer_client.get(f"{MODELS}/{model.pk}/inspect"), 422, "INVALID_BUNDLE")
    assert_envelope(viewer_client.get(f"{MODELS}/{model.pk}/download"), 422, "INVALID_BUNDLE")


def test_download_onnx_and_bundle(viewer_client, anomaly_model):
    model = factories.registered()
    onnx = viewer_client.get(f"{MODELS}/{model.pk}/download", {"format": "onnx"})
    assert onnx.status_code == 200 and onnx.content == factories.tiny_onnx()
    assert onnx["Content-Disposition"] == 'attachment; filename="tiny-1.0.0.onnx"'
    bundle = viewer_client.get(f"{MODELS}/{model.pk}/download")
    names = set(zipfile.ZipFile(io.BytesIO(bundle.content)).namelist())
    assert names == {"model.onnx", "normalisation.json", "metrics.json", "bundle.json"}
    assert_envelope(
        viewer_client.get(f"{MODELS}/{model.pk}/download", {"format": "pt"}),
        400,
        "VALIDATION_ERROR",
        "format",
    )
    assert_envelope(
        viewer_client.get(f"{MODELS}/{anomaly_model.pk}/download", {"format": "onnx"}),
        400,
        "VALIDATION_ERROR",
        "format",
    )
    draft = factories.draft(None)
    assert_envelope(viewer_client.get(f"{MODELS}/{draft.pk}/download"), 422, "INVALID_BUNDLE")


def test_inspect_a_classifier(viewer_client):
    model = factories.registered("signal_classification")
    body = viewer_client.get(f"{MODELS}/{model.pk}/inspect").json()
    assert body["bundle_path"] == _folder(model)
    assert body["metadata"]["model_type"] == "signal_classification"
    assert body["metadata"]["weights_precision"] == "float16"
    saved = body["bundle_saved_validation"]
    assert saved["label_names"] == factories.CLASSES
    assert saved["confusion_matrix"] == factories.CONFUSION
    # FSK: 6 of its 10 right (recall 0.6); 6 of the 8 predicted FSK are FSK (precision 0.75)
    assert saved["per_class"]["FSK"] == {
        "precision": 0.75,
        "recall": 0.6,
        "f1": 0.6667,
        "support": 10,
    }
    assert saved["per_class"]["CW"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 10}
    assert saved["accuracy"] == 0.8375
    f1 = [1.0, 0.8421, 0.7778, 0.8182, 0.8571, 0.6667, 0.7273, 1.0]  # per class, as above
    assert saved["macro_f1"] == pytest.approx(sum(f1) / 8, abs=1e-4)
    assert saved["weighted_f1"] == saved["macro_f1"]  # every class has 10 samples
    assert saved["top_confusion_pairs"][:2] == [
        {"true_label": "FSK", "pred_label": "PSK", "count": 4},
        {"true_label": "USB", "pred_label": "LSB", "count": 3},
    ]


def test_inspect_localization_and_anomaly(viewer_client, anomaly_model):
    model = factories.registered("localization")
    saved = viewer_client.get(f"{MODELS}/{model.pk}/inspect").json()["bundle_saved_validation"]
    assert saved["error_percentiles_m"]["model"]["p50"] == 900.0
    assert saved["error_percentiles_m"]["crb"]["p95"] == 1900.0
    assert saved["median_error_vs_wls"] == 0.75
    assert saved["uncertainty_coverage"]["circle95"] == 0.93
    anomaly = viewer_client.get(f"{MODELS}/{anomaly_model.pk}/inspect").json()
    saved = anomaly["bundle_saved_validation"]
    assert saved["threshold"] == 0.5
    assert saved["precision"] == anomaly_model.metrics["precision"]
    assert saved["f1"] == anomaly_model.metrics["f1_score"]
    histogram = saved["score_histogram"]
    assert len(histogram["bin_edges"]) == 21 and len(histogram["normal"]) == 20
    assert sum(histogram["anomalous"]) == anomaly_model.metrics["validation_anomalies"]
    assert_envelope(
        viewer_client.get(f"{MODELS}/00000000-0000-0000-0000-000000000000/inspect"),
        404,
        "NOT_FOUND",
    )


def test_current_inspect(viewer_client, anomaly_model):
    url = f"{MODELS}/current/inspect"
    assert viewer_client.get(url, {"model_type": "localization"}).json() == {
        "loaded": False,
        "reason": "no_model_loaded",
    }
    body = viewer_client.get(url, {"model_type": "anomaly_detection"}).json()
    assert body["loaded"] is True and body["model_id"] == str(anomaly_model.pk)
    assert_envelope(viewer_client.get(url), 400, "VALIDATION_ERROR", "model_type")
    assert_envelope(
        viewer_client.get(url, {"model_type": "x"}), 400, "VALIDATION_ERROR", "model_type"
    )


@pytest.mark.parametrize("status", ["draft", "training", "failed", "archived"])
def test_activation_of_a_model_not_ready_is_409(admin_client, status):
    model = factories.registered(status=status)
    assert_envelope(admin_client.post(f"{MODELS}/{model.pk}/activate"), 409, "CONFLICT")
    assert MLModel.objects.get(pk=model.pk).status == status


def test_activation_of_an_invalid_bundle_is_409(admin_client):
    model = factories.registered()
    default_storage.delete(f"{_folder(model)}/normalisation.json")
    error = assert_envelope(admin_client.post(f"{MODELS}/{model.pk}/activate"), 409, "CONFLICT")
    assert error["details"]["invalid_reason"] == "bundle files missing: normalisation.json"


# --- worker callbacks ----------------------------------------------------------------------------


def test_external_worker_flow_through_the_callbacks(operator_client, trainer_client):
    model = operator_client.post(MODELS, SEED_003_BODY, format="json").json()
    url = f"{MODELS}/{model['id']}"
    # an external trainer takes the model, trains elsewhere, uploads its bundle, reports
    assert operator_client.put(url, {"status": "training"}, format="json").json()["status"] == (
        "training"
    )
    folder = factories.external_bundle()
    report = {
        "model_artifact_path": folder,
        "performance_metrics": {"model_median_error_m": 850.0},
        "training_metrics": {"epoch": 50, "training_loss": 0.05},
    }
    done = trainer_client.post(f"{url}/training/complete", report, format="json")
    assert done.status_code == 200 and done.json() == {"status": "training completed"}
    trained = trainer_client.get(url).json()
    assert (trained["status"], trained["valid"]) == ("trained", True)
    assert trained["performance_metrics"] == {"model_median_error_m": 850.0}
    assert trained["training_metrics"] == {"epoch": 50, "training_loss": 0.05}
    stamp = trained["updated_at"]
    again = trainer_client.post(f"{url}/training/complete", report, format="json")
    assert again.json() == {"status": "training completed"}  # idempotent
    assert trainer_client.get(url).json()["updated_at"] == stamp
    assert trainer_client.get(f"{url}/inspect").status_code == 200
    other = factories.external_bundle("external/run-2")
    assert_envelope(
        trainer_client.post(
            f"{url}/training/complete", {**report, "model_artifact_path": other}, format="json"
        ),
        409,
        "CONFLICT",
    )
    assert_envelope(
        trainer_client.post(f"{url}/training/fail", {"reason": "late"}, format="json"),
        409,
        "CONFLICT",
    )


def test_fail_callback_is_idempotent(admin_user, admin_client):
    model = factories.draft(admin_user)
    admin_client.put(f"{MODELS}/{model.pk}", {"status": "training"}, format="json")
    url = f"{MODELS}/{model.pk}/training/fail"
    first = admin_client.post(url, {"reason": "Insufficient training data"}, format="json")
    assert first.json() == {"status": "training failed"}
    again = admin_client.post(url, {"reason": "Insufficient training data"}, format="json")
    assert again.json() == {"status": "training failed"}
    failed = MLModel.objects.get(pk=model.pk)
    assert (failed.status, failed.failure_reason) == ("failed", "Insufficient training data")
    assert_envelope(admin_client.post(url, {"reason": "another"}, format="json"), 409, "CONFLICT")
    assert_envelope(admin_client.post(url, {}, format="json"), 400, "VALIDATION_ERROR", "reason")


@pytest.mark.parametrize(
    ("path", "constraint"),
    [
        ("s3://models/model-123/v1.pkl", "must be a path inside artifact storage, not a URL"),
        ("https://example.org/model.onnx", "must be a path inside artifact storage, not a URL"),
        ("/etc/passwd", "must be a relative path inside artifact storage"),
        ("../models/other", "must not contain '..'"),
        ("external/../../etc", "must not contain '..'"),
        ("external\\run-1", "must be a relative path inside artifact storage"),
        ("external/nothing-here", "bundle files missing: bundle.json"),
        (
            "models/00000000-0000-0000-0000-000000000000",
            "is another model's bundle; this model's folder is models/{id}",
        ),
        ("", "This field may not be blank."),
    ],
)
def test_complete_callback_refuses_paths_outside_storage(
    admin_user, trainer_client, path, constraint
):
    model = factories.draft(admin_user)
    MLModel.objects.filter(pk=model.pk).update(status="training")
    before = snapshot()
    response = trainer_client.post(
        f"{MODELS}/{model.pk}/training/complete", {"model_artifact_path": path}, format="json"
    )
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "model_artifact_path")
    assert error["details"]["constraint"] == constraint.format(id=model.pk)
    assert snapshot() == before


def test_complete_callback_checks_the_bundle(admin_user, trainer_client):
    model = factories.draft(admin_user)
    MLModel.objects.filter(pk=model.pk).update(status="training")
    folder = factories.external_bundle()
    with default_storage.open(f"{folder}/model.onnx", "wb") as handle:
        handle.write(b"swapped after the manifest was written")
    response = trainer_client.post(
        f"{MODELS}/{model.pk}/training/complete",
        {"model_artifact_path": f"{folder}/bundle.json"},
        format="json",
    )
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "model_artifact_path")
    assert error["details"]["constraint"] == "hash mismatch: model.onnx"
    assert MLModel.objects.get(pk=model.pk).status == "training"


@pytest.mark.parametrize(
    ("role", "expected"),
    [("viewer", 403), ("operator", 403), ("collector", 403), ("trainer", 200), ("admin", 200)],
)
def test_callbacks_need_the_trainer_role(db, role, expected):
    model = factories.draft(None)
    MLModel.objects.filter(pk=model.pk).update(status="training")
    client = client_for(make_user(f"u-{role}", role))
    response = client.post(f"{MODELS}/{model.pk}/training/fail", {"reason": "x"}, format="json")
    assert response.status_code == expected
    assert MLModel.objects.get(pk=model.pk).status == ("failed" if expected == 200 else "training")


def test_callback_for_a_model_not_in_training_is_409(admin_user, trainer_client):
    model = factories.draft(admin_user)
    folder = factories.external_bundle()
    response = trainer_client.post(
        f"{MODELS}/{model.pk}/training/complete", {"model_artifact_path": folder}, format="json"
    )
    assert_envelope(response, 409, "CONFLICT")
    assert MLModel.objects.get(pk=model.pk).status == "draft"


# --- worker callbacks: what an audit of issue 15 found -------------------------------------------


def _training_model(user, model_type: str = "localization", name: str = "Locator") -> MLModel:
    model = factories.draft(user, model_type=model_type, name=name)
    MLModel.objects.filter(pk=model.pk).update(status="training")
    return model


def _bundle(folder: str, files: dict, *, model_type: str = "localization", paths=None) -> None:
    """An external trainer's bundle; `paths` puts a file elsewhere in the folder."""
    paths = paths or {}
    for name, data in files.items():
        default_storage.save(f"{folder}/{paths.get(name, name)}", ContentFile(data))
    manifest = {
        "model_type": model_type,
        "artifact": "model.onnx",
        "files": {
            name: {"sha256": hashlib.sha256(data).hexdigest(), "path": paths.get(name, name)}
            for name, data in files.items()
        },
    }
    default_storage.save(f"{folder}/bundle.json", ContentFile(json.dumps(manifest).encode()))


@pytest.mark.parametrize(
    "path", ["external/run.2024-06-01", "external/run.2024-06-01/bundle.json",
             "external/run.2024-06-01/model.onnx", "external/run.2024-06-01/"],
)  # fmt: skip
def test_a_folder_with_a_dot_in_its_name_is_a_folder(admin_user, trainer_client, path):
    # Found: "external/run.2024-06-01" was read as a file and its parent checked (400).
    model = _training_model(admin_user)
    factories.external_bundle("external/run.2024-06-01")
    response = trainer_client.post(
        f"{MODELS}/{model.pk}/training/complete", {"model_artifact_path": path}, format="json"
    )
    assert response.json() == {"status": "training completed"}
    body = trainer_client.get(f"{MODELS}/{model.pk}").json()
    assert (body["status"], body["valid"], body["invalid_reason"]) == ("trained", True, None)
    assert MLModel.objects.get(pk=model.pk).artifact_path == "external/run.2024-06-01/model.onnx"


def test_a_model_file_below_the_bundle_folder_is_refused(admin_user, trainer_client):
    # Found: accepted (200), then the model was invalid at once ("bundle files missing:
    # bundle.json": a bundle's folder is its model file's).
    model = _training_model(admin_user)
    _bundle("external/nested", {"model.onnx": factories.tiny_onnx()},
            paths={"model.onnx": "weights/model.onnx"})  # fmt: skip
    before = snapshot()
    response = trainer_client.post(
        f"{MODELS}/{model.pk}/training/complete",
        {"model_artifact_path": "external/nested"},
        format="json",
    )
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "model_artifact_path")
    assert error["details"]["constraint"] == (
        "the model file must be beside bundle.json in external/nested, "
        "not at external/nested/weights/model.onnx"
    )
    assert snapshot() == before


def test_another_model_s_external_bundle_is_refused(
    admin_user, admin_client, trainer_client, django_capture_on_commit_callbacks
):
    # Found: two models could report one folder; deleting one removed the other's bundle.
    first = _training_model(admin_user, name="first")
    second = _training_model(admin_user, name="second")
    factories.external_bundle("external/shared")
    report = {"model_artifact_path": "external/shared"}
    url = f"{MODELS}/{{}}/training/complete"
    assert trainer_client.post(url.format(first.pk), report, format="json").status_code == 200
    before = snapshot()
    response = trainer_client.post(url.format(second.pk), report, format="json")
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "model_artifact_path")
    assert error["details"]["constraint"] == f"is another model's bundle (first 1.0.0, {first.pk})"
    assert snapshot() == before
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.delete(f"{MODELS}/{first.pk}").status_code == 204
    assert not default_storage.exists("external/shared/model.onnx")


def test_a_repeat_with_other_metrics_is_409(admin_user, trainer_client):
    # Found: answered 200 and kept the first metrics, as if the second had been recorded.
    model = _training_model(admin_user)
    url = f"{MODELS}/{model.pk}/training/complete"
    report = {
        "model_artifact_path": factories.external_bundle(),
        "performance_metrics": {"f1": 0.9},
    }
    assert trainer_client.post(url, report, format="json").status_code == 200
    before = snapshot()
    other = {**report, "performance_metrics": {"f1": 0.95}}
    error = assert_envelope(trainer_client.post(url, other, format="json"), 409, "CONFLICT")
    assert error["details"] == {"status": "trained"}
    assert snapshot() == before
    assert trainer_client.post(url, report, format="json").json() == {
        "status": "training completed"
    }
    assert snapshot() == before


BAD_MATRIX = {"confusion_matrix": [[1, 2], [3]], "classes": ["CW", "AM"]}


@pytest.mark.parametrize(
    ("metrics_json", "performance_metrics", "field", "constraint"),
    [
        (b"[1, 2]", {}, "model_artifact_path",
         "saved validation not readable: metrics.json must be a JSON object"),
        (b'{"accuracy": NaN}', {}, "model_artifact_path",
         "saved validation not readable: metrics.json is not JSON: NaN is not a JSON number"),
        (json.dumps(BAD_MATRIX).encode(), {}, "model_artifact_path",
         "saved validation not readable: confusion_matrix must be a square table of counts"),
        (None, BAD_MATRIX, "performance_metrics",
         "saved validation not readable: confusion_matrix must be a square table of counts"),
        (None, {"confusion_matrix": [[1, 0], [0, 1]], "classes": ["CW"]}, "performance_metrics",
         "saved validation not readable: classes must name each row of confusion_matrix"),
    ],
)  # fmt: skip
def test_saved_validation_inspect_cannot_read_is_refused(
    admin_user, trainer_client, metrics_json, performance_metrics, field, constraint
):
    # Found: accepted, then GET /inspect answered 500.
    model = _training_model(admin_user, "signal_classification", "Classifier")
    files = {"model.onnx": factories.tiny_onnx()}
    if metrics_json is not None:
        files["metrics.json"] = metrics_json
    _bundle("external/clf", files, model_type="signal_classification")
    before = snapshot()
    response = trainer_client.post(
        f"{MODELS}/{model.pk}/training/complete",
        {"model_artifact_path": "external/clf", "performance_metrics": performance_metrics},
        format="json",
    )
    error = assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert error["details"]["constraint"] == constraint
    assert snapshot() == before


def test_inspect_of_unreadable_saved_validation_is_422(admin_user, admin_client, trainer_client):
    model = _training_model(admin_user)
    report = {
        "model_artifact_path": factories.external_bundle(),
        "performance_metrics": {"f1": 0.9},
    }
    trainer_client.post(f"{MODELS}/{model.pk}/training/complete", report, format="json")
    admin_client.put(
        f"{MODELS}/{model.pk}",
        {"performance_metrics": {"error_percentiles_m": {"model": 3}}},
        format="json",
    )
    error = assert_envelope(admin_client.get(f"{MODELS}/{model.pk}/inspect"), 422, "INVALID_BUNDLE")
    assert error["details"]["invalid_reason"] == (
        "saved validation not readable: error_percentiles_m must map model, wls and crb to "
        "percentiles in m"
    )


def test_callbacks_for_a_model_a_heimdall_job_trains_are_409(
    admin_user, admin_client, trainer_client
):
    # Found: a trainer account could fail (or complete) a model an operator's job was
    # training; the model could then be trained again beside the running job.
    from apps.training.models import TrainingJob

    model = factories.draft(admin_user)
    job_id = admin_client.post(
        f"{MODELS}/train", {"model_id": str(model.pk)}, format="json"
    ).json()["job_id"]
    before = snapshot()
    for path, body in [
        ("fail", {"reason": "worker lost"}),
        ("complete", {"model_artifact_path": factories.external_bundle()}),
    ]:
        response = trainer_client.post(f"{MODELS}/{model.pk}/training/{path}", body, format="json")
        error = assert_envelope(response, 409, "CONFLICT")
        assert error["details"] == {"status": "training", "job_id": job_id}
    assert snapshot() == before
    assert TrainingJob.objects.get(pk=job_id).status == "queued"
    # once the job is over (cancelled: the model failed with it) the model is free again
    admin_client.post(f"/api/v1/training/jobs/{job_id}/cancel")
    assert MLModel.objects.get(pk=model.pk).status == "failed"


def test_delete_also_removes_the_model_s_earlier_own_bundle(
    admin_user, admin_client, trainer_client, django_capture_on_commit_callbacks
):
    # Found: a model trained by Heimdall, then retrained by an external trainer, left its
    # first bundle (models/<id>/) in storage when deleted.
    model = factories.registered(created_by=admin_user)
    own = _folder(model)
    admin_client.put(f"{MODELS}/{model.pk}", {"status": "training"}, format="json")
    report = {"model_artifact_path": factories.external_bundle()}
    trainer_client.post(f"{MODELS}/{model.pk}/training/complete", report, format="json")
    assert default_storage.exists(f"{own}/model.onnx")
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_client.delete(f"{MODELS}/{model.pk}").status_code == 204
    assert default_storage.listdir(own) == ([], [])
    assert not default_storage.exists("external/run-1/model.onnx")
