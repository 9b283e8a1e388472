"""The OpenAPI schema and the validation agree: every bound the schema declares is the
one the API enforces, probed from the schema itself.

For each query parameter of every operation, and each bounded field of the request
bodies whose validation is hand-written (ingest, analyze), the value at the bound is
not refused for that field and the value just past it is a 400 naming it. The bounds
come from one constant each (pagination's IntParam, the forms' validators,
apps.signals.validation / analysis), so a drift on either side fails here.
"""

import copy
import math
import uuid

import pytest
from drf_spectacular.generators import SchemaGenerator

from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.timeutil import isoformat_z, utc_now
from tests.helpers import assert_envelope
from tests.signals.factories import DetectionFactory
from tests.stations.factories import StationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def _deref(schema, node):
    if "allOf" in node and len(node["allOf"]) == 1:  # a nullable reference
        return _deref(schema, node["allOf"][0])
    if "$ref" in node:
        target = schema
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        return _deref(schema, target)
    return node


def _field_named(response, name: str, about: str = "") -> bool:
    """A 400 naming `name` (and, when `about` is given, with `about` in its message)."""
    if response.status_code != 400:
        return False
    details = response.json()["error"]["details"]
    messages = details.get("fields", {}).get(name, [])
    named = details.get("field") == name or bool(messages)
    return named and (not about or any(about in m for m in messages))


def test_every_integer_query_parameter_has_bounds(schema):
    unbounded = [
        f"{method.upper()} {path} ?{parameter['name']}"
        for path, method, operation in _operations(schema)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query"
        and parameter["schema"].get("type") == "integer"
        and ("maximum" not in parameter["schema"] or "minimum" not in parameter["schema"])
    ]
    assert unbounded == []


def _query_probes(parameter_schema):
    """(value the schema admits, value it does not) pairs for one parameter."""
    kind = parameter_schema.get("type")
    if kind == "integer" and {"minimum", "maximum"} <= parameter_schema.keys():
        low, high = parameter_schema["minimum"], parameter_schema["maximum"]
        yield str(high), str(high + 1)
        yield str(low), str(low - 1)
        yield None, "12x"
    elif kind == "number":
        if "maximum" in parameter_schema:
            yield str(parameter_schema["maximum"]), str(parameter_schema["maximum"] + 0.001)
        if "minimum" in parameter_schema:
            yield str(parameter_schema["minimum"]), str(parameter_schema["minimum"] - 0.001)
        yield None, "nan"
    elif kind == "boolean":
        yield "true", "maybe"
    elif parameter_schema.get("format") == "date-time":
        yield "2024-01-15T12:00:00Z", "2024-13-45T99:00:00Z"
    elif "enum" in parameter_schema:
        for value in parameter_schema["enum"]:
            yield value, None
        yield None, "no-such-choice"
    elif "maxLength" in parameter_schema:
        length = parameter_schema["maxLength"]
        yield "a" * length, "a" * (length + 1)


def _baseline(operation) -> dict:
    """Values for the operation's required query parameters (statistics' frequency range)."""
    return {
        p["name"]: str(p["schema"].get("minimum", ""))
        for p in operation.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }


def test_query_parameter_bounds_are_the_validations(schema, viewer_client):
    StationFactory(id="twente-nl")
    probed = 0
    for path, method, operation in _operations(schema):
        if method != "get" or "{" in path or not path.startswith("/api/"):
            continue
        baseline = _baseline(operation)
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            name = parameter["name"]
            if not parameter.get("required"):
                assert parameter.get("allowEmptyValue") is True, (path, name)
                response = viewer_client.get(path, {**baseline, name: ""})
                assert not _field_named(response, name), (path, name, response.json())
            # At its maxLength a station id may still be unknown: only the length is probed.
            about = "characters" if "maxLength" in parameter["schema"] else ""
            for good, bad in _query_probes(parameter["schema"]):
                if good is not None:
                    response = viewer_client.get(path, {**baseline, name: good})
                    assert response.status_code < 500, (path, name, good)
                    assert not _field_named(response, name, about), (path, name, good)
                if bad is not None:
                    response = viewer_client.get(path, {**baseline, name: bad})
                    assert _field_named(response, name), (path, name, bad, response.content)
                    assert_envelope(response, 400, "VALIDATION_ERROR", name)
                probed += 1
    assert probed > 60  # every list and statistics endpoint was reached


# --- request bodies whose validation is written by hand ---------------------------


def _bounded_properties(schema, component: str, prefix: str):
    """(dotted field name, property schema) for each bounded property, nested objects too."""
    node = _deref(schema, schema["components"]["schemas"][component])
    for name, prop in node["properties"].items():
        prop = _deref(schema, prop)
        if prop.get("type") == "object" and "properties" in prop:
            yield from _bounded_properties_of(schema, prop, f"{prefix}{name}.")
        elif {"minimum", "maximum", "maxLength", "pattern", "enum"} & prop.keys():
            yield f"{prefix}{name}", prop


def _bounded_properties_of(schema, node, prefix):
    for name, prop in node["properties"].items():
        prop = _deref(schema, prop)
        if {"minimum", "maximum", "maxLength", "pattern", "enum"} & prop.keys():
            yield f"{prefix}{name}", prop


def _body_probes(prop):
    if prop.get("type") == "integer":
        yield prop["maximum"], prop["maximum"] + 1
        yield prop["minimum"], prop["minimum"] - 1
    elif prop.get("type") == "number":
        high, low = prop["maximum"], prop["minimum"]
        yield high, high + max(abs(high) * 1e-3, 1e-3)
        yield low, low - max(abs(low) * 1e-3, 1e-9)
    elif "enum" in prop:
        for value in prop["enum"]:
            yield value, None
        yield None, "no-such-choice"
    elif "pattern" in prop:  # modulation_type: any case
        yield "usb", None
        yield "Usb", None
        yield None, "FAX"
    elif "maxLength" in prop:
        yield None, "a" * (prop["maxLength"] + 1)


def _set(body: dict, dotted: str, value):
    body = copy.deepcopy(body)
    target = body
    *parents, last = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value
    return body


def test_ingest_schema_bounds_are_the_validations(schema, operator_client):
    from apps.signals.models import SignalDetection

    StationFactory(id="wide", frequency_min=0, frequency_max=MAX_FREQUENCY_HZ)
    item = DetectionFactory(websdr_station_id="wide", detection_timestamp=isoformat_z(utc_now()))
    probed = 0
    for field, prop in _bounded_properties(schema, "DetectionInputRequest", ""):
        for good, bad in _body_probes(prop):
            if good is not None:
                body = {"detections": [_set(item, field, good) | {"id": str(uuid.uuid4())}]}
                response = operator_client.post("/api/v1/signals/detections", body, format="json")
                assert response.status_code == 201, (field, good, response.json())
            if bad is not None:
                before = SignalDetection.objects.count()
                body = {"detections": [_set(item, field, bad)]}
                response = operator_client.post("/api/v1/signals/detections", body, format="json")
                assert_envelope(response, 400, "VALIDATION_ERROR", f"detections[0].{field}")
                assert SignalDetection.objects.count() == before
            probed += 1
    assert probed >= 12
    batch = _deref(schema, schema["components"]["schemas"]["IngestRequestRequest"])
    from apps.signals.services import MAX_BATCH

    assert batch["properties"]["detections"]["maxItems"] == MAX_BATCH
    assert batch["properties"]["detections"]["minItems"] == 1


def test_analyze_schema_bounds_are_the_validations(schema, viewer_client):
    t = [i / 48_000 for i in range(256)]
    samples = [math.sin(2 * math.pi * 1000 * x) for x in t]
    base = {"signal_data": {"samples": samples, "sample_rate": 48_000, "frequency": 14_235_000}}
    probed = 0
    for field, prop in _bounded_properties(schema, "AnalyzeRequestRequest", ""):
        for good, bad in _body_probes(prop):
            if good is not None:
                response = viewer_client.post(
                    "/api/v1/signals/analyze", _set(base, field, good), format="json"
                )
                assert response.status_code == 200, (field, good, response.json())
            if bad is not None:
                response = viewer_client.post(
                    "/api/v1/signals/analyze", _set(base, field, bad), format="json"
                )
                assert_envelope(response, 400, "VALIDATION_ERROR", field)
            probed += 1
    assert probed >= 10
    samples_schema = _deref(schema, schema["components"]["schemas"]["SignalDataRequest"])
    from apps.signals.analysis import MIN_SAMPLES

    assert samples_schema["properties"]["samples"]["minItems"] == MIN_SAMPLES


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/signals/detections", "page"),
        ("/api/v1/signals/detections", "page_size"),
        ("/api/v1/signals/detections", "frequency_min"),
        ("/api/v1/anomalies", "page"),
        ("/api/v1/constellations", "skip"),
        ("/api/v1/users", "limit"),
        ("/api/v1/training/jobs", "offset"),
        ("/api/v1/training/synthetic/datasets", "offset"),
        ("/api/v1/statistics/frequency-usage", "bin_width_hz"),
    ],
)
def test_a_huge_integer_is_a_400_naming_it_not_a_500(viewer_client, path, name):
    """Issue 12 §2: `page=99999999999999999999` answered 500 (bigint out of range)."""
    params = {"frequency_min": 0, "frequency_max": 10, name: "99999999999999999999"}
    error = assert_envelope(viewer_client.get(path, params), 400, "VALIDATION_ERROR", name)
    assert error["details"]["field"] == name
