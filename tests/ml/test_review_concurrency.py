"""Single-use transitions under concurrent requests (threads with their own PostgreSQL
connections, released together), found untested by review: acknowledge, activate,
train, the fail callback."""

import pytest
from rest_framework.test import APIClient

from apps.anomalies.models import AnomalyEvent
from apps.core.timeutil import utc_now
from apps.ml.models import MLModel
from apps.training.models import TrainingJob
from tests.dashboard import data as dashboard_data
from tests.helpers import client_for, make_user, together
from tests.ml import factories

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)
COUNT = 8


def test_concurrent_acknowledgements_of_one_anomaly_are_one_200():
    dashboard_data.station("twente-nl")
    dashboard_data.ingest(dashboard_data.detection(utc_now(), anomaly_score=0.9))
    event = AnomalyEvent.objects.get()
    users = [make_user(f"op{i}", "operator") for i in range(COUNT)]
    url = f"/api/v1/anomalies/{event.pk}/acknowledge"
    responses = together([
        (lambda user=user, i=i: client_for(user).post(url, {"notes": f"note {i}"}, format="json"))
        for i, user in enumerate(users)
    ])  # fmt: skip
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * (COUNT - 1), [r.content[:120] for r in responses]
    (winner,) = [i for i, r in enumerate(responses) if r.status_code == 200]
    event.refresh_from_db()
    assert (event.acknowledged_by_id, event.notes) == (users[winner].pk, f"note {winner}")


def test_concurrent_activations_leave_one_deployed_model_of_the_type():
    admin = make_user("ada", "admin")
    models = [factories.registered("localization", name=f"loc-{i}") for i in range(4)]
    calls = [
        (lambda m=m: client_for(admin).post(f"/api/v1/models/{m.pk}/activate", format="json"))
        for m in models for _ in range(2)
    ]  # fmt: skip
    responses = together(calls)
    assert all(r.status_code < 500 for r in responses), [r.content[:200] for r in responses]
    deployed = MLModel.objects.filter(model_type="localization", status="deployed")
    assert deployed.count() == 1


def test_concurrent_train_requests_for_one_model_start_one_job():
    operator = make_user("otto", "operator")
    model = factories.draft(operator)
    responses = together([
        (lambda: client_for(operator).post("/api/v1/models/train",
                                           {"model_id": str(model.pk)}, format="json"))
        for _ in range(COUNT)
    ])  # fmt: skip
    statuses = sorted(r.status_code for r in responses)
    assert statuses[0] == 202 and set(statuses[1:]) == {409}, [r.content[:200] for r in responses]
    assert TrainingJob.objects.filter(ml_model=model).count() == 1


def test_concurrent_repeats_of_one_fail_callback_are_all_accepted_once():
    admin = make_user("ada", "admin")
    model = factories.draft(admin)
    client_for(admin).put(f"/api/v1/models/{model.pk}", {"status": "training"}, format="json")
    url = f"/api/v1/models/{model.pk}/training/fail"
    responses = together([
        (lambda: client_for(admin).post(url, {"reason": "worker lost"}, format="json"))
        for _ in range(COUNT)
    ])  # fmt: skip
    assert [r.status_code for r in responses] == [200] * COUNT
    model.refresh_from_db()
    assert (model.status, model.failure_reason) == ("failed", "worker lost")


def test_concurrent_repeats_of_one_complete_callback_are_all_accepted_once():
    admin = make_user("ada", "admin")
    model = factories.draft(admin)
    client_for(admin).put(f"/api/v1/models/{model.pk}", {"status": "training"}, format="json")
    url = f"/api/v1/models/{model.pk}/training/complete"
    body = {"model_artifact_path": factories.external_bundle(), "performance_metrics": {"f1": 0.9}}
    responses = together(
        [(lambda: client_for(admin).post(url, body, format="json")) for _ in range(COUNT)]
    )
    assert [r.status_code for r in responses] == [200] * COUNT, [r.content for r in responses]
    model.refresh_from_db()
    assert (model.status, model.metrics) == ("trained", {"f1": 0.9})
    assert model.artifact_path == "external/run-1/model.onnx"


def test_two_models_reporting_one_external_folder_at_once_one_gets_it():
    """The folder check and the write are one step per folder (a named lock): without
    it both reports passed "another model's bundle" and two models shared one folder."""
    admin = make_user("ada", "admin")
    api = client_for(admin)
    header = api._credentials  # one login: each thread's client sends the same token
    models = [factories.draft(admin, name=f"ext-{i}") for i in range(COUNT)]
    for model in models:
        api.put(f"/api/v1/models/{model.pk}", {"status": "training"}, format="json")
    body = {"model_artifact_path": factories.external_bundle(), "performance_metrics": {"f1": 0.9}}

    def report(model):
        client = APIClient()
        client.credentials(**header)
        return client.post(f"/api/v1/models/{model.pk}/training/complete", body, format="json")

    responses = together([(lambda m=m: report(m)) for m in models])
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [400] * (COUNT - 1), [r.content[:200] for r in responses]
    assert MLModel.objects.filter(status="trained").count() == 1
    assert MLModel.objects.filter(status="training").count() == COUNT - 1
