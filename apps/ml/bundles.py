"""Model bundles in artifact storage (the Django storage API: filesystem or S3).

A bundle is a folder: the model file (the artifact: `model.onnx` for trained
networks, `model.npz` for the anomaly density), `normalisation.json`,
`metrics.json` and `bundle.json`, the manifest that lists every file with its
SHA-256 and size:

```json
{"format": 2, "name": "...", "version": "1.0.0", "model_type": "localization",
 "artifact": "model.onnx", "weights": "<storage path of the artifact>", "sha256": "...",
 "config": {...}, "files": {"model.onnx": {"path": "...", "sha256": "...", "bytes": 123}}}
```

`files` paths may also be relative to the bundle folder (bundles written by
an external trainer); they may not leave it. The weights are stored once: an
ONNX model carries them, in half precision where the validation metrics
allowed it (`weights_precision` in metrics.json), cast back to float32 by a
`Cast` node when the graph loads (onnxruntime folds it away at session start).
"""

import hashlib
import io
import json
import posixpath
import re
import zipfile
from dataclasses import dataclass

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.core.exceptions import HeimdallError, ValidationFailed
from apps.core.outages import cached

MANIFEST = "bundle.json"


class BundleCorrupt(HeimdallError):
    status_code = 500
    code = "INTERNAL_ERROR"
    default_message = "A model bundle failed its integrity check."


class InvalidBundle(HeimdallError):
    """The bundle fails its check (inspect answers 422 with the reason)."""

    status_code = 422
    code = "INVALID_BUNDLE"
    default_message = "The model's bundle is not valid."


def bundle_dir(model_id) -> str:
    return f"models/{model_id}"


def write_file(model_id, name: str, data: bytes) -> str:
    path = f"{bundle_dir(model_id)}/{name}"
    if default_storage.exists(path):
        default_storage.delete(path)
    return default_storage.save(path, ContentFile(data))


def write_json(model_id, name: str, payload: dict) -> str:
    return write_file(model_id, name, json.dumps(payload, indent=2, default=str).encode())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_verified(path: str, expected_sha256: str) -> bytes:
    """The file's bytes, refused if they are not what the registry recorded."""
    with default_storage.open(path, "rb") as handle:
        data = handle.read()
    if expected_sha256 and sha256(data) != expected_sha256:
        raise BundleCorrupt(f"{path} does not match its recorded hash.")
    return data


# --- paths given by clients ----------------------------------------------------

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def safe_storage_path(raw: str, field: str) -> str:
    """A client's path inside artifact storage, normalised; 400 naming `field` for a URL,
    an absolute path, a `..` segment, a backslash or a control character."""
    if not isinstance(raw, str) or not raw.strip():
        raise ValidationFailed.for_field(field, "must be a path inside artifact storage")
    text = raw.strip()
    if _SCHEME.match(text) or "://" in text:
        raise ValidationFailed.for_field(
            field, "must be a path inside artifact storage, not a URL", raw
        )
    if text.startswith("/") or "\\" in text or any(ord(c) < 32 for c in text):
        raise ValidationFailed.for_field(
            field, "must be a relative path inside artifact storage", raw
        )
    if ".." in text.split("/"):
        raise ValidationFailed.for_field(field, "must not contain '..'", raw)
    return posixpath.normpath(text).rstrip("/")


# --- the manifest and the check --------------------------------------------------


@dataclass(frozen=True)
class BundleFile:
    name: str
    path: str
    sha256: str


@dataclass(frozen=True)
class Bundle:
    folder: str
    manifest: dict
    files: tuple[BundleFile, ...]
    artifact: BundleFile

    def file(self, name: str) -> BundleFile | None:
        return next((f for f in self.files if f.name == name), None)


def _resolve(folder: str, raw: str) -> str:
    """A manifest entry's storage path: absolute storage paths inside `folder`, or relative."""
    path = posixpath.normpath(raw if raw.startswith(folder + "/") else f"{folder}/{raw}")
    if not path.startswith(folder + "/") or ".." in path.split("/"):
        raise ValueError(f"{raw} leaves the bundle folder")
    return path


def read_manifest(folder: str) -> Bundle:
    """The bundle in `folder`; ValueError saying what is wrong with its manifest."""
    manifest_path = f"{folder}/{MANIFEST}"
    if not default_storage.exists(manifest_path):
        raise ValueError(f"bundle files missing: {MANIFEST}")
    try:
        with default_storage.open(manifest_path, "rb") as handle:
            manifest = json.loads(handle.read())
    except ValueError:
        raise ValueError(f"{MANIFEST} is not JSON") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files", {}), dict):
        raise ValueError(f"{MANIFEST} must be an object with a 'files' object")
    files = []
    for name, entry in manifest.get("files", {}).items():
        if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
            raise ValueError(f"{MANIFEST}: files.{name} needs a sha256")
        files.append(BundleFile(name, _resolve(folder, entry.get("path") or name), entry["sha256"]))
    artifact_name = manifest.get("artifact")
    if artifact_name is None and isinstance(manifest.get("weights"), str):  # format 1
        weights = _resolve(folder, manifest["weights"])
        artifact_name = posixpath.basename(weights)
        if not any(f.name == artifact_name for f in files):
            files.append(BundleFile(artifact_name, weights, str(manifest.get("sha256", ""))))
    artifact = next((f for f in files if f.name == artifact_name), None)
    if artifact is None:
        raise ValueError(f"{MANIFEST} names no model file ('artifact' among 'files')")
    return Bundle(folder, manifest, tuple(files), artifact)


def _signature(bundle_files) -> str:
    """Sizes and modification times: a changed file changes the cached check's key."""
    parts = []
    for item in bundle_files:
        try:
            stamp = default_storage.get_modified_time(item.path).timestamp()
        except (NotImplementedError, OSError):
            stamp = 0
        try:
            parts.append(f"{item.path}:{default_storage.size(item.path)}:{stamp}")
        except OSError:
            parts.append(f"{item.path}:missing")
    return sha256("|".join(parts).encode())


def _loadable(name: str, data: bytes) -> str | None:
    if name.endswith(".onnx"):
        import onnxruntime

        try:
            onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            return f"ONNX not loadable: {str(exc).splitlines()[0][:300]}"
    elif name.endswith(".npz"):
        from apps.ml.context import ContextModel, is_context_model
        from apps.ml.density import GaussianMixtureModel

        try:
            if is_context_model(data):
                ContextModel.from_bytes(data)
            else:
                GaussianMixtureModel.from_bytes(data)
        except Exception as exc:
            return f"model file not loadable: {exc}"
    return None


def check_folder(
    folder: str, *, expected_sha256: str = "", model_type: str | None = None
) -> tuple[Bundle | None, str | None]:
    """(bundle, None) when every file is there, matches its hash and the model file
    loads; (bundle or None, reason) otherwise. Cached until a file changes."""
    try:
        bundle = read_manifest(folder)
    except ValueError as exc:
        return None, str(exc)
    stamped = (*bundle.files, BundleFile(MANIFEST, f"{folder}/{MANIFEST}", ""))
    key = f"ml:bundle-check:{_signature(stamped)}:{expected_sha256}:{model_type}"
    reason = cached(key, lambda: _check(bundle, expected_sha256, model_type) or "", 3600)
    return bundle, reason or None


def _check(bundle: Bundle, expected_sha256: str, model_type: str | None) -> str | None:
    if model_type and bundle.manifest.get("model_type") not in (None, model_type):
        return f"bundle is for {bundle.manifest.get('model_type')}, not {model_type}"
    missing = [f.name for f in bundle.files if not default_storage.exists(f.path)]
    if missing:
        return f"bundle files missing: {', '.join(sorted(missing))}"
    mismatched = []
    artifact_data = b""
    for item in bundle.files:
        with default_storage.open(item.path, "rb") as handle:
            data = handle.read()
        if sha256(data) != item.sha256:
            mismatched.append(item.name)
        if item == bundle.artifact:
            artifact_data = data
    if expected_sha256 and bundle.artifact.sha256 != expected_sha256:
        mismatched.append(f"{bundle.artifact.name} (registry)")
    if mismatched:
        return f"hash mismatch: {', '.join(sorted(set(mismatched)))}"
    return _loadable(bundle.artifact.name, artifact_data)


def model_bundle(model) -> tuple[Bundle | None, str | None]:
    """A registry model's bundle and why it is not valid (None when valid)."""
    if not model.artifact_path:
        return None, "no bundle: the model has not been trained"
    folder = posixpath.dirname(model.artifact_path)
    return check_folder(folder, expected_sha256=model.artifact_sha256)


def bundle_zip(bundle: Bundle) -> bytes:
    """Every file of the bundle and its manifest, in one zip (stored: the weights don't
    compress)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for item in (*bundle.files, BundleFile(MANIFEST, f"{bundle.folder}/{MANIFEST}", "")):
            with default_storage.open(item.path, "rb") as handle:
                archive.writestr(item.name, handle.read())
    return buffer.getvalue()


def delete_folder_files(bundle_or_paths) -> None:
    """Remove a bundle's files (its manifest last)."""
    paths = (
        [f.path for f in bundle_or_paths.files] + [f"{bundle_or_paths.folder}/{MANIFEST}"]
        if isinstance(bundle_or_paths, Bundle)
        else list(bundle_or_paths)
    )
    for path in paths:
        if default_storage.exists(path):
            default_storage.delete(path)


# --- ONNX: weights once, in half precision where allowed --------------------------


def onnx_constant_initializers(data: bytes) -> bytes:
    """An ONNX model whose initializers are not also graph inputs (what the exporter's
    `keep_initializers_as_inputs=True` adds, which keeps every parameter under its own
    name): constants again, so onnxruntime folds what depends on them."""
    import onnx

    model = onnx.load_from_string(data)
    names = {init.name for init in model.graph.initializer}
    inputs = [value for value in model.graph.input if value.name not in names]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    return model.SerializeToString()


def onnx_half_storage(data: bytes, minimum_elements: int = 16) -> bytes:
    """Float32 initializers stored as float16, each read through a Cast back to float32.

    The graph computes in float32 on the weights rounded to half precision:
    exactly what torch computes with `tensor.half().float()` weights. Initializers
    keep their names (the torch parameter names), so the weights can be read back.
    """
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(data)
    graph = model.graph
    renamed: dict[str, str] = {}
    casts = []
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= minimum_elements:
            half = numpy_helper.to_array(init).astype(np.float16)
            init.CopyFrom(numpy_helper.from_array(half, init.name))
            renamed[init.name] = f"{init.name}::float32"
            casts.append(
                helper.make_node(
                    "Cast",
                    [init.name],
                    [renamed[init.name]],
                    to=TensorProto.FLOAT,
                    name=f"{init.name}::cast",
                )
            )
    for node in graph.node:
        for index, name in enumerate(node.input):
            if name in renamed:
                node.input[index] = renamed[name]
    for output in graph.output:
        if output.name in renamed:  # an initializer that is itself an output: unlikely
            raise ValueError(f"initializer {output.name} is a graph output")
    nodes = casts + list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes)
    return model.SerializeToString()


def onnx_weights(data: bytes) -> dict:
    """The ONNX model's initializers as float32 numpy arrays, by name (torch parameter
    names for Heimdall's exports)."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(data)
    weights = {}
    for init in model.graph.initializer:
        array = numpy_helper.to_array(init)
        weights[init.name] = array.astype(np.float32) if array.dtype == np.float16 else array
    return weights


def read_bundle_file(model, name: str) -> bytes:
    """A file of the model's bundle (listed in its manifest with its hash), verified."""
    bundle = read_manifest(posixpath.dirname(model.artifact_path))
    item = bundle.file(name)
    if item is None:
        raise BundleCorrupt(f"model {model.pk} has no {name} in its bundle.")
    return read_verified(item.path, item.sha256)
