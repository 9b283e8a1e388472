"""Numbers valid in JSON but not as values (issue 12 §2): refused with a 400 naming the field,
at any depth of any body and in every integer query parameter; nothing written."""

import json

import pytest

from apps.constellations.models import Constellation
from apps.core.numbers import (
    INT64_MAX,
    BadNumber,
    BoundedIntegerField,
    checked_loads,
    first_bad_number,
    json_safe,
)
from apps.signals.models import SignalDetection
from apps.stations.models import Station
from apps.training.models import TrainingJob
from tests.helpers import assert_envelope
from tests.signals.factories import DetectionFactory, ingest
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db
BIG = "9" * 20  # beyond a bigint


def raw(client, method: str, path: str, text: str):
    return getattr(client, method)(path, data=text, content_type="application/json")


def no_non_finite(response) -> dict:
    return json.loads(response.content, parse_constant=lambda c: pytest.fail(f"{c} in body"))


# --- the parser and helpers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "constraint"),
    [
        ('{"a": 1e400}', "a", "must be a finite number"),
        ('{"a": {"b": [1, 2, -1e999]}}', "a.b[2]", "must be a finite number"),
        ('{"a": [{"b": NaN}]}', "a[0].b", "must be a finite number"),
        ('[Infinity]', "[0]", "must be a finite number"),
        (f'{{"a": {{"b": {BIG}}}}}', "a.b", "must be an integer from"),
        (f'{{"a": -{BIG}}}', "a", "must be an integer from"),
    ],
)  # fmt: skip
def test_checked_loads_names_the_path(text, path, constraint):
    with pytest.raises(BadNumber) as caught:
        checked_loads(text)
    assert caught.value.path == path
    assert caught.value.constraint.startswith(constraint)


def test_checked_loads_passes_the_limits_themselves():
    data = checked_loads(f'{{"a": {INT64_MAX}, "b": -{INT64_MAX + 1}, "c": 1.7e308, "d": 1e-400}}')
    assert data == {"a": INT64_MAX, "b": -(INT64_MAX + 1), "c": 1.7e308, "d": 0.0}


def test_first_bad_number_and_json_safe():
    assert first_bad_number({"x": [1, {"y": float("nan")}]}).path == "x[1].y"
    assert first_bad_number({"x": [1, 2.5, "inf"]}) is None
    assert json_safe({"v": [float("inf"), -float("inf"), 10**30]}) == {
        "v": ["Infinity", "-Infinity", "10000000000000000000... (31 digits)"]
    }


@pytest.mark.parametrize("raw_value", [BIG, "-" + BIG, "1e3", "x" * 41])
def test_bounded_integer_form_field_defaults_to_64_bits(raw_value):
    from django import forms

    with pytest.raises(forms.ValidationError):
        BoundedIntegerField().clean(raw_value)
    assert BoundedIntegerField().clean(str(INT64_MAX)) == INT64_MAX
    with pytest.raises(forms.ValidationError):
        BoundedIntegerField(max_value=10).clean("11")


# --- request bodies, every writing endpoint -----------------------------------------


def test_ingest_free_form_objects_at_any_depth(operator_client):
    StationFactory(id="twente-nl")
    item = DetectionFactory(when=factories_now())
    body = json.dumps({"detections": [item, item | {"id": None}]})
    cases = [
        ('"snr_estimate": 15.3', '"snr_estimate": 1e400',
         "detections[0].signal_features.snr_estimate"),
        ('"processing_time_ms": 125', '"processing_time_ms": {"deep": [1, NaN]}',
         "detections[0].processing_metadata.processing_time_ms.deep[1]"),
        ('"frequency_hz": 14235000', f'"frequency_hz": {BIG}', "detections[0].frequency_hz"),
        ('"signal_strength_db": -73.5', '"signal_strength_db": -Infinity',
         "detections[0].signal_strength_db"),
    ]  # fmt: skip
    for old, new, field in cases:
        assert old in body
        response = raw(
            operator_client, "post", "/api/v1/signals/detections", body.replace(old, new, 1)
        )
        assert_envelope(response, 400, "VALIDATION_ERROR", field)
        no_non_finite(response)
    assert SignalDetection.objects.count() == 0


def factories_now():
    from apps.core.timeutil import utc_now

    return utc_now()


def test_ingest_service_refuses_non_finite_metadata_from_collectors():
    """Collectors call the service directly: the same rule, the same field names."""
    from apps.core.exceptions import ValidationFailed

    StationFactory(id="twente-nl")
    item = DetectionFactory(when=factories_now())
    item["processing_metadata"] = {"gps": {"ns": float("nan")}}
    with pytest.raises(ValidationFailed) as caught:
        ingest(item)
    assert caught.value.details["field"] == "detections[0].processing_metadata.gps.ns"
    assert SignalDetection.objects.count() == 0


def test_station_api_config_at_any_depth(admin_client):
    payload = {"id": "kiwi-1", "name": "Kiwi", "url": "http://kiwi.example.org:8073/",
               "latitude": 52.0, "longitude": 6.0, "frequency_min": 0, "frequency_max": 30_000_000,
               "api_config": {"api_type": "kiwisdr", "timeout": 10}}  # fmt: skip
    text = json.dumps(payload)
    for old, new, field in [
        ('"timeout": 10', '"timeout": 1e400', "api_config.timeout"),
        ('"latitude": 52.0', '"latitude": NaN', "latitude"),
        ('"frequency_max": 30000000', f'"frequency_max": {BIG}', "frequency_max"),
    ]:
        response = raw(admin_client, "post", "/api/v1/stations", text.replace(old, new))
        assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert not Station.objects.exists()


def test_training_config_at_any_depth(operator_client):
    text = (
        '{"job_name": "x", "config": {"model_architecture": "localization_mlp", "epochs": 1e400}}'
    )
    response = raw(operator_client, "post", "/api/v1/training/jobs", text)
    assert_envelope(response, 400, "VALIDATION_ERROR", "config.epochs")
    assert not TrainingJob.objects.exists()


def test_predict_features(viewer_client, anomaly_model):
    text = '{"features": {"spectral_centroid": 1500, "bandwidth": Infinity}}'
    response = raw(viewer_client, "post", f"/api/v1/models/{anomaly_model.pk}/predict", text)
    assert_envelope(response, 400, "VALIDATION_ERROR", "features.bandwidth")


def test_constellation_body(operator_client):
    response = raw(operator_client, "post", "/api/v1/constellations", '{"name": "a", "x": NaN}')
    assert_envelope(response, 400, "VALIDATION_ERROR", "x")
    assert not Constellation.objects.exists()


# --- query strings --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/signals/detections", {"page": "99999999999999999999"}, "page"),
        ("/api/v1/signals/detections", {"page": "1000001"}, "page"),
        ("/api/v1/signals/detections", {"page_size": BIG}, "page_size"),
        ("/api/v1/signals/detections", {"frequency_min": BIG}, "frequency_min"),
        ("/api/v1/signals/detections", {"frequency_max": "300000000001"}, "frequency_max"),
        ("/api/v1/signals/detections", {"min_anomaly_score": "1e400"}, "min_anomaly_score"),
        ("/api/v1/signals/detections", {"min_anomaly_score": "NaN"}, "min_anomaly_score"),
        ("/api/v1/anomalies", {"page": BIG}, "page"),
        ("/api/v1/constellations", {"skip": BIG}, "skip"),
        ("/api/v1/constellations", {"limit": BIG}, "limit"),
        ("/api/v1/users", {"skip": BIG}, "skip"),
        ("/api/v1/training/jobs", {"offset": BIG}, "offset"),
        ("/api/v1/training/jobs", {"limit": BIG}, "limit"),
        ("/api/v1/training/synthetic/datasets", {"offset": BIG}, "offset"),
        ("/api/v1/statistics/frequency-usage",
         {"frequency_min": "0", "frequency_max": BIG}, "frequency_max"),
        ("/api/v1/statistics/frequency-usage",
         {"frequency_min": "0", "frequency_max": "100", "bin_width_hz": BIG}, "bin_width_hz"),
    ],
)  # fmt: skip
def test_integer_query_parameters_are_bounded(admin_client, path, params, field):
    response = admin_client.get(path, params)
    assert_envelope(response, 400, "VALIDATION_ERROR", field)
    no_non_finite(response)


def test_the_last_page_inside_the_bound_is_an_empty_page(viewer_client):
    body = viewer_client.get("/api/v1/signals/detections", {"page": "1000000"}).json()
    assert body["data"] == []
    assert body["pagination"]["page"] == 1_000_000


# --- management commands ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["collect", "--duration", "inf"], "must be a finite number"),
        (["collect", "--duration", "nan"], "must be a finite number"),
        (["collect", "--duration", "1e400"], "must be a finite number"),
        (["collect", "--duration", "0"], "must be from 0.1"),
        (["ensure_default_models", "--seed", "-1"], "must be from 0"),
        (["ensure_default_models", "--seed", BIG], "must be from 0"),
        (["create_user", "\u200b", "--role", "viewer", "--password", "x"], "username"),
    ],
)
def test_commands_refuse_bad_numbers_and_names(args, message):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match=message):
        call_command(*args)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # nesting past any parser's depth
        "[" * 1010 + "12345678901234567890" + "]" * 1010,
        '{"name": "x"',
    ],
)
def test_hostile_json_is_a_400_never_a_500(operator_client, text):
    response = raw(operator_client, "post", "/api/v1/constellations", text)
    assert_envelope(response, 400, "VALIDATION_ERROR", "body")
    assert not Constellation.objects.exists()


def test_integers_beyond_64_bits_in_free_form_objects_are_named(operator_client):
    StationFactory(id="twente-nl")
    item = DetectionFactory(when=factories_now())
    text = json.dumps({"detections": [item]}).replace(
        '"snr_estimate": 15.3', f'"snr_estimate": {BIG}'
    )
    response = raw(operator_client, "post", "/api/v1/signals/detections", text)
    assert_envelope(response, 400, "VALIDATION_ERROR", "detections[0].signal_features.snr_estimate")
    assert SignalDetection.objects.count() == 0
