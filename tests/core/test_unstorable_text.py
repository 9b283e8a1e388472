"""Text valid in JSON that PostgreSQL cannot store: NUL (`\\u0000`, refused by text and
jsonb) and lone UTF-16 surrogates (no UTF-8 text holds one). Anywhere in any body,
message or uploaded metadata it is a 400 naming the path, never a 500; nothing written.
(schemathesis found PUT/PATCH /api/v1/models/{id} answering 500 to a NUL in metrics.)"""

import json

import pytest

from apps.core.numbers import BadText, checked_loads, fast_checked_loads
from apps.core.timeutil import utc_now
from apps.ml.models import MLModel
from apps.signals.models import SignalDetection
from apps.stations.models import Station
from tests.helpers import assert_envelope, client_for
from tests.ml.factories import MLModelFactory
from tests.signals.factories import DetectionFactory
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db


def raw(client, method: str, path: str, text: str):
    return getattr(client, method)(path, data=text, content_type="application/json")


@pytest.mark.parametrize(
    ("body", "path", "constraint"),
    [
        (rb'{"a": {"b": "x\u0000y"}}', "a.b", "must not contain NUL"),
        (rb'{"a": [1, {"\u0000": 2}]}', "a[1]", "keys must not contain NUL"),
        (rb'["\u0000"]', "[0]", "must not contain NUL"),
        # Python's json (the reader for integers of 19+ digits) accepts lone surrogates.
        (rb'{"n": 1234567890123456789, "s": ["ok", "\ud800"]}', "s[1]", "must be valid Unicode"),
    ],
)
def test_the_reader_names_the_path(body, path, constraint):
    with pytest.raises(BadText) as caught:
        fast_checked_loads(body)
    assert caught.value.path == path
    assert caught.value.constraint.startswith(constraint)
    assert caught.value.value is None  # never echoed back


def test_what_is_storable_passes():
    assert fast_checked_loads(rb'{"a": "\\u0000", "e": "\ud83d\ude00"}') == {
        "a": "\\u0000",  # an escaped backslash, then text: no NUL
        "e": "\U0001f600",  # a surrogate pair is one character
    }
    assert checked_loads(r'{"e": "\ud83d\ude00", "n": 1}') == {"e": "\U0001f600", "n": 1}


# The first failing body schemathesis sent (its NUL is in a key of performance_metrics).
FUZZ_PATCH = (
    '{"description": "", "status": "training", "training_metrics": {"\\u00a8": {"": false}},'
    ' "name": "m", "metadata": {}, "performance_metrics": {"\\u00dd\\udb99\\udc3b'
    '\\u0000b\'\\u00a2": {}, "0": [2.1017496112785908e-246, null]}}'
)


@pytest.mark.parametrize(
    ("method", "text", "field"),
    [
        ("patch", FUZZ_PATCH, "performance_metrics"),
        ("put", '{"name": "m", "metadata": {"k": "a\\u0000"}}', "metadata.k"),
        ("patch", '{"training_metrics": {"loss": [{"\\u0000": 1}]}}', "training_metrics.loss[0]"),
        ("patch", '{"description": "x\\u0000"}', "description"),
    ],
)
def test_model_registry_bodies(admin_user, method, text, field):
    model = MLModelFactory(metadata={"k": "v"})
    before = MLModel.objects.values().get(pk=model.pk)
    response = raw(client_for(admin_user), method, f"/api/v1/models/{model.pk}", text)
    assert_envelope(response, 400, "VALIDATION_ERROR", field)
    assert MLModel.objects.values().get(pk=model.pk) == before


def test_a_lone_surrogate_in_a_body(operator_client):
    response = raw(operator_client, "post", "/api/v1/constellations", '{"name": "\\ud800"}')
    error = assert_envelope(response, 400, "VALIDATION_ERROR", "name")
    assert error["details"]["constraint"].startswith("must be valid Unicode")


def test_station_api_config(admin_client):
    StationFactory(id="twente-nl", api_config={"timeout": 5})
    text = '{"api_config": {"headers": {"x": "a\\u0000"}}}'
    response = raw(admin_client, "patch", "/api/v1/stations/twente-nl", text)
    assert_envelope(response, 400, "VALIDATION_ERROR", "api_config.headers.x")
    assert Station.objects.get(pk="twente-nl").api_config == {"timeout": 5}


def test_ingest_metadata(operator_client):
    StationFactory(id="twente-nl")
    item = DetectionFactory()
    item["processing_metadata"] = {"decoder": "ft8\u0000"}
    text = json.dumps({"detections": [item]})
    response = raw(operator_client, "post", "/api/v1/signals/detections", text)
    assert_envelope(response, 400, "VALIDATION_ERROR", "detections[0].processing_metadata.decoder")
    assert SignalDetection.objects.count() == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"processing_metadata": {"decoder": ["ft8", "a\x00"]}},
         "detections[0].processing_metadata.decoder[1]"),
        ({"processing_metadata": {"n\x00": 1}}, "detections[0].processing_metadata"),
        ({"processing_metadata": {"s": "\ud800"}}, "detections[0].processing_metadata.s"),
        ({"signal_features": {"snr\x00": 1.0}}, "detections[0].signal_features"),
        ({"websdr_station_id": "twente-nl\x00"}, "detections[0].websdr_station_id"),
    ],
)  # fmt: skip
def test_the_ingest_service_refuses_it_from_python_callers(change, field):
    """A collector's dict never went through the parser: the service checks itself."""
    from apps.core.exceptions import ValidationFailed
    from apps.signals.services import detection_ingest

    StationFactory(id="twente-nl")
    with pytest.raises(ValidationFailed) as caught:
        detection_ingest(detections=[{**DetectionFactory(), **change}])
    assert caught.value.details["field"] == field
    assert SignalDetection.objects.count() == 0


def test_a_receivers_error_text_is_recorded_storable():
    """A receiver's own words go into its station check: NUL and lone surrogates in them
    are replaced (U+FFFD), not a failed INSERT that stops the collector's bookkeeping."""
    from apps.collectors.base import ProtocolError
    from apps.collectors.runner import _reason
    from apps.stations.models import StationCheck

    StationFactory(id="twente-nl")
    reason = _reason(ProtocolError("server says: bad\x00mode \ud800"), 5.0)
    assert reason == "server says: bad\ufffdmode \ufffd"
    StationCheck.objects.create(station_id="twente-nl", checked_at=utc_now(), ok=False,
                                error=reason)  # fmt: skip
    assert StationCheck.objects.get().error == reason


@pytest.mark.parametrize(
    ("path", "field"),
    [
        # schemathesis's find: the view reads config_name by hand and queried with it
        ("/api/v1/training/data-check?config_name=%00%60&only_approved=true", "config_name"),
        ("/api/v1/anomalies?station=tw%00", "station"),
        ("/api/v1/signals/detections?modulation_type=USB&x%00=1", "x\ufffd"),
    ],
)
def test_nul_in_a_query_parameter_is_a_400_naming_it(viewer_client, path, field):
    error = assert_envelope(viewer_client.get(path), 400, "VALIDATION_ERROR", field)
    assert error["details"]["constraint"] == "must not contain NUL (\\u0000) characters"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/stations/%00",  # was a 500: the text id reached PostgreSQL
        "/api/v1/stations/twente%00nl/status",  # was a 500
        "/api/v1/stations/twente-nl%00/health",
        "/api/v1/training/jobs/%00",
    ],
)
def test_nul_in_a_path_is_a_404_in_the_envelope(admin_client, path):
    StationFactory(id="twente-nl")
    assert_envelope(admin_client.get(path), 404, "NOT_FOUND")
    assert admin_client.patch(path, {"name": "x"}, format="json").status_code == 404


def test_nul_in_an_admin_path_is_a_404():
    from django.test import Client

    from tests.dashboard import data
    from tests.helpers import make_user

    StationFactory(id="twente-nl")
    client = Client()
    client.force_login(make_user("ada", "admin"), backend=data.SESSION_BACKEND)
    assert client.get("/admin/stations/station/twente-nl/change/").status_code == 200
    assert client.get("/admin/stations/station/twente%00nl/change/").status_code == 404


@pytest.mark.parametrize(
    ("form", "field"),
    [
        ({"action": "mark_inactive", "_selected_action": ["twente\x00nl"], "index": "0"},
         "_selected_action"),  # was a 500: the admin filtered the stations by these ids
        ({"action": "mark_inactive", "_selected_action": ["twente-nl"], "x\x00": "1"}, "x\ufffd"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("encoding", ["form-encoded", "multipart"])
def test_nul_in_a_form_body_is_a_400_naming_it(form, field, encoding):
    from urllib.parse import urlencode

    from django.test import Client

    from tests.dashboard import data
    from tests.helpers import make_user

    StationFactory(id="twente-nl", status=Station.Status.ACTIVE)
    client = Client(raise_request_exception=False)
    client.force_login(make_user("ada", "admin"), backend=data.SESSION_BACKEND)
    if encoding == "multipart":  # a client may send any form as multipart
        answer = client.post("/admin/stations/station/", form)
    else:  # as the admin's changelist form sends it (no enctype: form-encoded)
        body = urlencode(form, doseq=True)
        answer = client.post("/admin/stations/station/", body,
                             content_type="application/x-www-form-urlencoded")  # fmt: skip
    error = assert_envelope(answer, 400, "VALIDATION_ERROR", field)
    assert error["details"]["constraint"] == "must not contain NUL (\\u0000) characters"
    assert Station.objects.get(pk="twente-nl").status == Station.Status.ACTIVE
