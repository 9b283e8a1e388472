"""GET /api/v1/models: MLModelFilterSet → selectors.model_list → seed 004's `{"data": [...]}`
(no pages). The console's /models page reads through the same FilterSet
(tests/dashboard/test_filtered_lists.py)."""

from datetime import timedelta

import pytest

from apps.core.timeutil import utc_now
from apps.ml.models import MLModel
from tests.helpers import assert_envelope
from tests.ml.factories import MLModelFactory

pytestmark = pytest.mark.django_db
MODELS = "/api/v1/models"


@pytest.fixture
def registry():
    """Five models: two localization (older draft, newer trained), one anomaly model deployed,
    one anomaly draft, one classifier failed; created_at spaced a minute apart."""
    rows = [
        ("loc-old", "localization", "draft"),
        ("loc-new", "localization", "trained"),
        ("anom-live", "anomaly_detection", "deployed"),
        ("anom-draft", "anomaly_detection", "draft"),
        ("cls", "signal_classification", "failed"),
    ]
    start = utc_now() - timedelta(hours=1)
    for minute, (name, model_type, status) in enumerate(rows):
        model = MLModelFactory(name=name, model_type=model_type, status=status)
        MLModel.objects.filter(pk=model.pk).update(created_at=start + timedelta(minutes=minute))
    return rows


def _names(response) -> list[str]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"data"}  # seed 004: no pagination block
    return [item["name"] for item in body["data"]]


def test_every_model_by_type_then_newest_first(viewer_client, registry):
    assert _names(viewer_client.get(MODELS)) == [
        "anom-draft", "anom-live", "loc-new", "loc-old", "cls",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"model_type": "localization"}, ["loc-new", "loc-old"]),
        ({"model_type": "anomaly_detection"}, ["anom-draft", "anom-live"]),
        ({"status": "draft"}, ["anom-draft", "loc-old"]),
        ({"status": "failed"}, ["cls"]),
        ({"model_type": "anomaly_detection", "status": "deployed"}, ["anom-live"]),
        ({"model_type": "localization", "status": "deployed"}, []),
        ({"status": "archived"}, []),
        # An empty value is "not given", as before.
        (
            {"model_type": "", "status": ""},
            ["anom-draft", "anom-live", "loc-new", "loc-old", "cls"],
        ),
    ],
)
def test_filters(viewer_client, registry, query, expected):
    assert _names(viewer_client.get(MODELS, query)) == expected


@pytest.mark.parametrize(
    ("query", "field", "choices"),
    [
        ({"model_type": "oracle"}, "model_type", MLModel.Type.values),
        ({"status": "sleepy"}, "status", MLModel.Status.values),
        (
            {"model_type": "Localization"},
            "model_type",
            MLModel.Type.values,
        ),  # exact, no case folding
        ({"model_type": "localization", "status": "DRAFT"}, "status", MLModel.Status.values),
    ],
)
def test_an_unknown_value_is_a_400_naming_the_parameter(viewer_client, registry, query, field,
                                                        choices):  # fmt: skip
    error = assert_envelope(viewer_client.get(MODELS, query), 400, "VALIDATION_ERROR", field)
    constraint = f"must be one of {', '.join(choices)}"
    assert error["message"] == f"Invalid value for '{field}': {constraint}"
    assert error["details"]["constraint"] == constraint
    assert error["details"]["value"] == query[field]
    assert MLModel.objects.count() == 5


def test_the_schema_lists_the_filters_choices():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    parameters = {p["name"]: p["schema"] for p in schema["paths"][MODELS]["get"]["parameters"]}
    assert parameters["model_type"]["enum"] == MLModel.Type.values
    assert parameters["status"]["enum"] == MLModel.Status.values
