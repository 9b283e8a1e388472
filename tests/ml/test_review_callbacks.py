"""The worker callbacks' free text (found by review): a fail reason is normalised like
every free text, so an invisible reason is refused and the repeat of a report is the
same report."""

import pytest

from apps.ml.models import MLModel
from tests.helpers import assert_envelope
from tests.ml import factories

pytestmark = pytest.mark.django_db
MODELS = "/api/v1/models"


@pytest.fixture
def training(admin_user, admin_client):
    model = factories.draft(admin_user)
    admin_client.put(f"{MODELS}/{model.pk}", {"status": "training"}, format="json")
    return model


@pytest.mark.parametrize("reason", ["\u200b", " \u200b\u2060 ", "disk\x1bfull"])
def test_an_invisible_or_control_character_reason_is_refused(admin_client, training, reason):
    # Found: "\u200b" failed the model with a reason nobody can read (200).
    response = admin_client.post(f"{MODELS}/{training.pk}/training/fail", {"reason": reason},
                                 format="json")  # fmt: skip
    assert_envelope(response, 400, "VALIDATION_ERROR", "reason")
    model = MLModel.objects.get(pk=training.pk)
    assert (model.status, model.failure_reason) == ("training", "")


def test_the_reason_is_stored_normalised_and_its_repeat_is_idempotent(admin_client, training):
    url = f"{MODELS}/{training.pk}/training/fail"
    first = admin_client.post(url, {"reason": " Disk full\u200b\n"}, format="json")
    assert first.json() == {"status": "training failed"}
    assert MLModel.objects.get(pk=training.pk).failure_reason == "Disk full"
    again = admin_client.post(url, {"reason": "Disk full"}, format="json")
    assert again.status_code == 200 and again.json() == {"status": "training failed"}
