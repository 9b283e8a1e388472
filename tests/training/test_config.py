"""Training config: defaults never make a valid request invalid; every error at once."""

import pytest

from apps.training.config import resolve_config
from apps.training.models import TrainingJob
from tests.helpers import assert_envelope

JOBS = "/api/v1/training/jobs"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("given", "field", "used", "because"),
    [
        ({"epochs": 2}, "warmup_epochs", 1, "must be fewer than epochs (2)"),
        ({"epochs": 3}, "warmup_epochs", 2, "must be fewer than epochs (3)"),
        ({"epochs": 1}, "warmup_epochs", 0, "must be fewer than epochs (1)"),
        ({"n_fft": 256}, "hop_length", 256, "must not exceed n_fft (256)"),
        ({"n_fft": 128}, "n_mels", 65, "must not exceed n_fft / 2 + 1 (65)"),
    ],
)
def test_unspecified_defaults_are_clamped_and_said(given, field, used, because):
    config = resolve_config(given)
    assert config[field] == used
    default = {"warmup_epochs": 5, "hop_length": 512, "n_mels": 128}[field]
    assert config["adjusted_defaults"][field] == {
        "default": default,
        "used": used,
        "because": because,
    }


@pytest.mark.django_db
def test_the_issue_examples_make_jobs(operator_client):
    for epochs in (2, 3):
        response = operator_client.post(
            JOBS, {"job_name": "short", "config": {"epochs": epochs}}, format="json"
        )
        assert response.status_code == 201, response.content
        config = response.json()["config"]
        assert config["warmup_epochs"] == epochs - 1
        assert config["adjusted_defaults"]["warmup_epochs"]["default"] == 5
    plain = operator_client.post(JOBS, {"job_name": "d", "config": {}}, format="json").json()
    assert plain["config"]["warmup_epochs"] == 5 and plain["config"]["adjusted_defaults"] == {}


@pytest.mark.django_db
def test_a_given_conflict_is_still_refused(operator_client):
    response = operator_client.post(
        JOBS, {"job_name": "x", "config": {"epochs": 5, "warmup_epochs": 10}}, format="json"
    )
    assert_envelope(response, 400, "VALIDATION_ERROR", "config.warmup_epochs")


@pytest.mark.django_db
def test_every_invalid_field_is_reported_at_once(operator_client):
    body = {
        "job_name": "",
        "config": {
            "epochs": 0,
            "batch_size": 0,
            "n_fft": 1000,
            "lr_scheduler": "linear",
            "devices": 2,
            "hop_length": 20000,
            "n_mels": 4000,
            "warmup_epochs": -1,
        },
    }
    error = assert_envelope(
        operator_client.post(JOBS, body, format="json"), 400, "VALIDATION_ERROR"
    )
    assert set(error["details"]["fields"]) == {
        "job_name",
        "config.epochs",
        "config.batch_size",
        "config.n_fft",
        "config.lr_scheduler",
        "config.devices",
        "config.hop_length",
        "config.n_mels",
        "config.warmup_epochs",
    }
    assert error["message"].endswith("(and 8 more)")
    assert not TrainingJob.objects.exists()


@pytest.mark.django_db
def test_cross_field_rules_run_beside_field_errors(operator_client):
    body = {"job_name": "x", "config": {"batch_size": 9999, "n_fft": 256, "hop_length": 512}}
    error = assert_envelope(
        operator_client.post(JOBS, body, format="json"), 400, "VALIDATION_ERROR"
    )
    assert set(error["details"]["fields"]) == {"config.batch_size", "config.hop_length"}


@pytest.mark.django_db
def test_seed_003_train_test_split_and_random_seed():
    config = resolve_config({"train_test_split": 0.75, "random_seed": 7})
    assert (config["validation_split"], config["random_seed"]) == (0.25, 7)
    from apps.core.exceptions import ValidationFailed

    with pytest.raises(ValidationFailed) as caught:
        resolve_config({"train_test_split": 0.2, "random_seed": -1})
    assert set(caught.value.details["fields"]) == {"config.train_test_split", "config.random_seed"}
