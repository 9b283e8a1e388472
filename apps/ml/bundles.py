"""Model bundles in artifact storage (the Django storage API: filesystem or S3)."""

import hashlib
import json

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from apps.core.exceptions import HeimdallError


class BundleCorrupt(HeimdallError):
    status_code = 500
    code = "INTERNAL_ERROR"
    default_message = "A model bundle failed its integrity check."


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


def read_bundle_file(model, name: str) -> bytes:
    """A file of the model's bundle (listed in its bundle.json with its hash), verified."""
    directory = model.artifact_path.rsplit("/", 1)[0]
    with default_storage.open(f"{directory}/bundle.json", "rb") as handle:
        listing = json.loads(handle.read())
    entry = listing.get("files", {}).get(name)
    if entry is None:
        raise BundleCorrupt(f"model {model.pk} has no {name} in its bundle.")
    return read_verified(entry["path"], entry["sha256"])
