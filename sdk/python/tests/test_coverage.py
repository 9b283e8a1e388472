"""Every operation of the OpenAPI schema has an SDK method, and every SDK method an operation.

The schema comes from the live server (`/api/v1/schema/`) when one runs, else
from `manage.py spectacular` in the repository. The Python SDK's map is
heimdall_sdk._operations.OPERATIONS (kept by the `@operation` decorator); the
JavaScript SDK's is sdk/js/operations.json (operationId → method name), checked
the same way when that file exists.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import heimdall_sdk
import httpx
import pytest
from heimdall_sdk._operations import OPERATIONS

ROOT = Path(__file__).resolve().parents[3]
SDK = Path(__file__).resolve().parents[1]
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    url = os.environ.get("HEIMDALL_URL")
    if url:
        response = httpx.get(
            f"{url}/api/v1/schema/",
            params={"format": "json"},
            headers={"Authorization": f"Bearer {os.environ['HEIMDALL_API_KEY']}"},
            timeout=60,
        )
        response.raise_for_status()
        return response.json()
    out = tmp_path_factory.mktemp("schema") / "schema.json"
    subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--format", "openapi-json", "--file", out],
        cwd=ROOT,
        check=True,
    )
    return json.loads(out.read_text())


def _operations(schema: dict) -> dict[str, tuple[str, str]]:
    return {
        op["operationId"]: (method.upper(), path)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in METHODS
    }


def test_every_schema_operation_has_a_python_method_and_back(schema):
    ops = _operations(schema)
    missing = sorted(set(ops) - set(OPERATIONS))
    extra = sorted(set(OPERATIONS) - set(ops))
    assert not missing, f"operations the Python SDK does not cover: {missing}"
    assert not extra, f"SDK methods for operations the schema no longer has: {extra}"
    for op_id, (method, path) in ops.items():
        assert (OPERATIONS[op_id].method, OPERATIONS[op_id].path) == (method, path), op_id


def test_every_mapped_method_exists_on_both_clients():
    client = heimdall_sdk.HeimdallClient("http://127.0.0.1:9", api_key="hmd_x")
    for op in OPERATIONS.values():
        group, name = op.sdk_method.split(".")
        method = getattr(getattr(client, group), name)
        assert method.__heimdall_operation__ == op.operation_id
    sync = heimdall_sdk.Client("http://127.0.0.1:9", api_key="hmd_x")
    try:
        for op in OPERATIONS.values():
            group, name = op.sdk_method.split(".")
            assert callable(getattr(getattr(sync, group), name)), op.sdk_method
    finally:
        sync.close()


def test_generated_models_are_up_to_date(schema, tmp_path):
    sys.path.insert(0, str(SDK / "scripts"))
    try:
        import generate_models
    finally:
        sys.path.pop(0)
    out = tmp_path / "models.py"
    generate_models.write(schema, out)
    current = (SDK / "src" / "heimdall_sdk" / "models.py").read_text()
    assert out.read_text() == current, "run sdk/python/scripts/generate_models.py"


def test_every_schema_operation_has_a_javascript_method_and_back(schema):
    mapping_file = ROOT / "sdk" / "js" / "operations.json"
    if not mapping_file.exists():
        pytest.skip("sdk/js/operations.json is absent: the JavaScript SDK's map is not built yet")
    mapping = json.loads(mapping_file.read_text())
    ops = _operations(schema)
    missing = sorted(set(ops) - set(mapping))
    extra = sorted(set(mapping) - set(ops))
    assert not missing, f"operations the JavaScript SDK does not cover: {missing}"
    assert not extra, f"JavaScript methods for operations the schema no longer has: {extra}"
    assert all(isinstance(name, str) and name for name in mapping.values())
