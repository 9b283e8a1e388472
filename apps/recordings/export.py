"""A stored recording back as SigMF: its metadata with the clips as annotations, and a
`.sigmf` archive (tar) streamed from storage without holding the data in memory."""

import json
import tarfile
import time
from collections.abc import Iterator

from django.core.files.storage import default_storage

from apps.recordings.models import Recording
from apps.recordings.sigmf_files import CHUNK, CLIP_KEYS

EXTENSION = {"name": "heimdall", "version": "1.0.0", "optional": True}


def recording_meta(recording: Recording) -> dict:
    """SigMF metadata: the uploaded `global` (its `core:sha512` set to the data's) and
    `captures`, and one annotation per clip, labels and approval as they are now
    (`heimdall:approved`, `heimdall:snr_db`, `heimdall:clip_id`)."""
    glob = dict(recording.meta["global"])
    glob["core:sha512"] = recording.data_sha512
    extensions = [e for e in glob.get("core:extensions", []) if e.get("name") != "heimdall"]
    glob["core:extensions"] = [*extensions, EXTENSION]
    glob["heimdall:websdr_station_id"] = recording.station_id
    annotations = []
    for clip in recording.clips.order_by("sample_start", "id"):
        annotation = {
            # the clip's own fields are written from the clip, never from its metadata
            **{k: v for k, v in clip.metadata.items() if k not in CLIP_KEYS},
            "core:sample_start": clip.sample_start,
            "core:sample_count": clip.sample_count,
            "heimdall:clip_id": str(clip.pk),
            "heimdall:approved": clip.approved,
        }
        if clip.freq_lower_edge is not None:
            annotation["core:freq_lower_edge"] = clip.freq_lower_edge
            annotation["core:freq_upper_edge"] = clip.freq_upper_edge
        if clip.label:
            annotation["core:label"] = clip.label
        if clip.comment:
            annotation["core:comment"] = clip.comment
        if clip.snr_db is not None:
            annotation["heimdall:snr_db"] = clip.snr_db
        annotations.append(annotation)
    return {"global": glob, "captures": recording.meta["captures"], "annotations": annotations}


def _member(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(time.time()), 0o644
    return info.tobuf(format=tarfile.PAX_FORMAT)


def _padding(size: int) -> bytes:
    return b"\0" * (-size % tarfile.BLOCKSIZE)


def archive_chunks(recording: Recording, base: str) -> Iterator[bytes]:
    """The `.sigmf` archive: `<base>/<base>.sigmf-meta` and `.sigmf-data`, in chunks."""
    meta = json.dumps(recording_meta(recording), indent=2).encode()
    yield _member(f"{base}/{base}.sigmf-meta", len(meta))
    yield meta + _padding(len(meta))
    yield _member(f"{base}/{base}.sigmf-data", recording.data_bytes)
    yield from data_chunks(recording)
    yield _padding(recording.data_bytes)
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def data_chunks(recording: Recording) -> Iterator[bytes]:
    with default_storage.open(recording.data_path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            yield chunk
