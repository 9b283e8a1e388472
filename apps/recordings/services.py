"""Writes of the recordings app: storing a SigMF recording, its clips (annotations), and
its analysis into ordinary detections.

Files live in artifact storage (Django's default storage) under
`recordings/<id>/`: the data file as uploaded and the metadata as uploaded.
A refused upload stores nothing: validation runs on the temporary files
before any row or artifact is written, and a failure while storing removes
what was written.
"""

import contextlib
import logging
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import timedelta

from django.core.files import File
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q

from apps.accounts.roles import is_owner_or_admin
from apps.core.exceptions import Conflict, PermissionDenied, ValidationFailed
from apps.core.merge import json_merge_patch
from apps.core.tasks import dispatch
from apps.core.text import normalize_text
from apps.core.timeutil import utc_now
from apps.recordings import clips as clip_math
from apps.recordings import sigmf_files
from apps.recordings.models import Recording, RecordingClip
from apps.stations.models import Station

logger = logging.getLogger(__name__)

STATION_EXTENSION_KEY = "heimdall:websdr_station_id"
LABEL_MAX_LENGTH = sigmf_files.LABEL_MAX_LENGTH
WINDOW_SECONDS_MIN, WINDOW_SECONDS_MAX = 0.001, 10.0
ANALYZE_TASK = "apps.recordings.tasks.analyze_recording"
# A pending or running analysis with no sign of life for this long has lost its worker
# (killed, out of memory, a deploy) or its task: it may be asked again or deleted, and
# the periodic `recordings.fail_stale_analyses` marks a running one failed.
ANALYSIS_STALE_AFTER = timedelta(minutes=5)
BEING_ANALYZED = (Recording.AnalysisStatus.PENDING, Recording.AnalysisStatus.RUNNING)


# --- recordings -----------------------------------------------------------------------------


def _station_for(station_id: str | None, glob: dict) -> Station:
    """The form field, else the metadata's `heimdall:websdr_station_id` extension key, else
    `core:hw` when it names a registered station."""
    field = "websdr_station_id"
    candidate = station_id or None
    if candidate is None and isinstance(glob.get(STATION_EXTENSION_KEY), str):
        candidate, field = glob[STATION_EXTENSION_KEY], f"global.{STATION_EXTENSION_KEY}"
    if candidate is None and isinstance(glob.get("core:hw"), str):
        station = Station.objects.filter(pk=glob["core:hw"].strip()).first()
        if station is not None:
            return station
    if candidate is None:
        raise ValidationFailed.for_field(
            "websdr_station_id",
            f"is required: the form field, or the metadata's global.{STATION_EXTENSION_KEY} "
            "or core:hw naming a registered station",
        )
    station = Station.objects.filter(pk=candidate).first()
    if station is None:
        raise ValidationFailed.for_field(field, f"unknown station '{candidate}'", candidate)
    return station


@contextlib.contextmanager
def _data_source(*, meta_file, data_file, archive_file) -> Iterator[tuple[bytes, str, int, str]]:
    """(meta bytes, local data path, data bytes, SHA-512) of the upload, with the data on
    local disk (the upload's temporary file, or extracted from the archive in chunks)."""
    if archive_file is not None:
        if meta_file is not None or data_file is not None:
            raise ValidationFailed.for_field(
                "archive", "give either an archive or a meta and a data file, not both"
            )
        tar, raw_meta, member = sigmf_files.open_archive(archive_file)
        with tempfile.NamedTemporaryFile(suffix=".sigmf-data", delete=False) as target:
            path = target.name
            try:
                size, digest = sigmf_files.copy_hashing(tar.extractfile(member), target)
            except Exception as exc:
                os.unlink(path)
                raise ValidationFailed.for_field("archive", f"is truncated: {exc}") from None
        try:
            if size != member.size:
                raise ValidationFailed.for_field(
                    "archive", f"is truncated: {size} of {member.size} data bytes"
                )
            yield raw_meta, path, size, digest
        finally:
            os.unlink(path)
        return
    if meta_file is None:
        raise ValidationFailed.for_field("meta", "is required: a .sigmf-meta file (or an archive)")
    if data_file is None:
        raise ValidationFailed.for_field("data", "is required: a .sigmf-data file (or an archive)")
    if meta_file.size > sigmf_files.MAX_META_BYTES:
        raise ValidationFailed.for_field("meta", "is over 16 MiB", meta_file.size)
    raw_meta = meta_file.read()
    if hasattr(data_file, "temporary_file_path") and hasattr(data_file, "sha512"):
        yield raw_meta, data_file.temporary_file_path(), data_file.size, data_file.sha512
        return
    # Not streamed by HashingUploadHandler (a service call): copy to disk, hashing.
    with tempfile.NamedTemporaryFile(suffix=".sigmf-data") as target:
        data_file.seek(0)
        size, digest = sigmf_files.copy_hashing(data_file, target)
        yield raw_meta, target.name, size, digest


def _clip_fields(annotation: dict) -> dict:
    """A clip's fields from a SigMF annotation; keys it does not keep in its own fields go
    to `metadata` (not the heimdall: ones an export wrote: an uploaded clip is a new,
    unapproved clip)."""
    known = sigmf_files.CLIP_KEYS
    low, high = annotation.get("core:freq_lower_edge"), annotation.get("core:freq_upper_edge")
    return {
        "sample_start": annotation["core:sample_start"],
        "sample_count": annotation["core:sample_count"],
        "freq_lower_edge": None if low is None else round(low),
        "freq_upper_edge": None if high is None else round(high),
        "label": annotation.get("core:label", ""),  # a string of at most 64 (validate_meta)
        "comment": str(annotation.get("core:comment", "")),
        "metadata": {k: v for k, v in annotation.items() if k not in known},
    }


def recording_create(
    *,
    user,
    meta_file=None,
    data_file=None,
    archive_file=None,
    websdr_station_id: str | None = None,
    name: str = "",
    description: str = "",
) -> Recording:
    """Validate a SigMF recording (sigmf_files) and store it: the data and metadata in
    artifact storage, a Recording row, and a clip per annotation (unapproved).

    Raises ValidationFailed naming the field (`captures[1].core:frequency`, `data`,
    `global.core:sha512`, `websdr_station_id`, ...); then nothing is stored.
    """
    now = utc_now()
    with _data_source(meta_file=meta_file, data_file=data_file, archive_file=archive_file) as (
        raw_meta,
        path,
        size,
        digest,
    ):
        meta = sigmf_files.parse_meta(raw_meta, "meta" if archive_file is None else "archive")
        info = sigmf_files.validate_recording(meta, data_bytes=size, data_sha512=digest, now=now)
        station = _station_for(websdr_station_id, meta["global"])
        recording = Recording(
            name=name or _default_name(meta_file, data_file, archive_file),
            description=description,
            station=station,
            datatype=info.datatype,
            sample_rate=info.sample_rate,
            sample_count=info.sample_count,
            center_frequency_min_hz=min(c.frequency_hz for c in info.captures),
            center_frequency_max_hz=max(c.frequency_hz for c in info.captures),
            frequency_min_hz=info.frequency_span[0],
            frequency_max_hz=info.frequency_span[1],
            start_time=info.start_time,
            end_time=info.end_time,
            meta={"global": meta["global"], "captures": meta["captures"]},
            data_bytes=size,
            data_sha512=digest,
            created_by=user,
        )
        clips = []
        for annotation in info.annotations:
            fields = _clip_fields(annotation)
            clips.append(
                RecordingClip(
                    recording=recording,
                    source=RecordingClip.Source.SIGMF,
                    snr_db=clip_math.clip_snr_db(path, info, **_edges(fields)),
                    created_by=user,
                    **fields,
                )
            )
        stored: list[str] = []
        try:
            base = f"recordings/{recording.pk}/recording"
            with open(path, "rb") as handle:
                recording.data_path = default_storage.save(f"{base}.sigmf-data", File(handle))
            stored.append(recording.data_path)
            stored.append(default_storage.save(f"{base}.sigmf-meta", ContentFile(raw_meta)))
            with transaction.atomic():
                recording.save(force_insert=True)
                RecordingClip.objects.bulk_create(clips)
        except BaseException:
            for name_ in stored:
                default_storage.delete(name_)
            raise
    return recording


def _edges(fields: dict) -> dict:
    return {
        "sample_start": fields["sample_start"],
        "sample_count": fields["sample_count"],
        "freq_lower_edge": fields["freq_lower_edge"],
        "freq_upper_edge": fields["freq_upper_edge"],
    }


def _default_name(*files) -> str:
    for uploaded in files:
        if uploaded is not None and getattr(uploaded, "name", None):
            stem = os.path.basename(uploaded.name)
            for suffix in (".sigmf-meta", ".sigmf-data", ".sigmf"):
                stem = stem.removesuffix(suffix)
            return normalize_text(stem)[:255] or "recording"
    return "recording"


def recording_delete(*, recording: Recording, user=None) -> None:
    """Delete the recording, its clips and its files (detections it produced stay: they
    are ordinary detections). Only its uploader or an admin may (403), as for datasets,
    jobs and models; 409 while it is being analyzed."""
    if user is not None and not is_owner_or_admin(user, recording.created_by_id):
        raise PermissionDenied("Only the recording's uploader or an admin may delete it.")
    with transaction.atomic():
        locked = Recording.objects.select_for_update().get(pk=recording.pk)
        if is_being_analyzed(locked):
            raise Conflict(
                "The recording is being analyzed; delete it when the analysis has ended.",
                {"analysis_status": locked.analysis_status},
            )
        folder = f"recordings/{locked.pk}"
        locked.delete()
        transaction.on_commit(lambda: _delete_folder(folder))


def is_being_analyzed(recording: Recording, now=None) -> bool:
    """Pending or running, with a sign of life within ANALYSIS_STALE_AFTER (a stale one
    has lost its worker or its task: it blocks nothing)."""
    if recording.analysis_status not in BEING_ANALYZED:
        return False
    beat = recording.analysis_heartbeat_at  # None: from before heartbeats were kept
    return beat is not None and beat >= (now or utc_now()) - ANALYSIS_STALE_AFTER


def analyses_fail_stale(*, now=None) -> int:
    """Periodic: running analyses without progress for ANALYSIS_STALE_AFTER are failed
    (their worker died); how many. A later request may analyze again."""
    cutoff = (now or utc_now()) - ANALYSIS_STALE_AFTER
    minutes = int(ANALYSIS_STALE_AFTER.total_seconds() // 60)
    return Recording.objects.filter(
        Q(analysis_heartbeat_at__lt=cutoff) | Q(analysis_heartbeat_at__isnull=True),
        analysis_status=Recording.AnalysisStatus.RUNNING,
    ).update(
        analysis_status=Recording.AnalysisStatus.FAILED,
        analysis_message="Failed",
        analysis_error=f"worker lost: no progress for {minutes} minutes",
        analyzed_at=utc_now(),
    )


def _delete_folder(folder: str) -> None:
    try:
        _, files = default_storage.listdir(folder)
    except (FileNotFoundError, NotImplementedError):
        return
    for name in files:
        default_storage.delete(f"{folder}/{name}")
    with contextlib.suppress(NotImplementedError, OSError):
        shutil.rmtree(default_storage.path(folder), ignore_errors=True)


@contextlib.contextmanager
def local_data(recording: Recording) -> Iterator[str]:
    """A local path of the recording's data file: the stored file itself on file-system
    storage, else a temporary copy made in chunks (S3-compatible storage)."""
    try:
        yield default_storage.path(recording.data_path)
        return
    except NotImplementedError:
        pass
    with (
        default_storage.open(recording.data_path, "rb") as source,
        tempfile.NamedTemporaryFile(suffix=".sigmf-data") as target,
    ):
        shutil.copyfileobj(source, target, sigmf_files.CHUNK)
        target.flush()
        yield target.name


# --- analysis --------------------------------------------------------------------------------


DEFAULT_WINDOW_SECONDS = 0.25
# A window is read into memory whole (complex64, then the DSP's complex128 copy): 2^24
# samples is about 400 MB at the peak. Without a cap, `window_seconds: 10` on a 100 MS/s
# recording asked a worker for 8 GB at once, whatever the size of the file.
MAX_WINDOW_SAMPLES = 1 << 24


def _window_seconds(recording: Recording, given: float | None) -> float:
    """The request's `window_seconds`, at most MAX_WINDOW_SAMPLES at the recording's rate
    (a 400 naming it); by default DEFAULT_WINDOW_SECONDS, shortened to fit that cap."""
    limit = MAX_WINDOW_SAMPLES / recording.sample_rate
    if limit < WINDOW_SECONDS_MIN:
        raise ValidationFailed.for_field(
            "window_seconds",
            f"this recording's {recording.sample_rate:g} samples/s is too fast to analyze: "
            f"the shortest window, {WINDOW_SECONDS_MIN} s, holds over {MAX_WINDOW_SAMPLES} "
            "samples",
            given,
        )
    if given is None:
        given = min(DEFAULT_WINDOW_SECONDS, math.floor(limit * 1e4) / 1e4)
    if given * recording.sample_rate > MAX_WINDOW_SAMPLES:
        raise ValidationFailed.for_field(
            "window_seconds",
            f"at most {limit:.6g} s at this recording's {recording.sample_rate:g} samples/s "
            f"(a window holds at most {MAX_WINDOW_SAMPLES} samples)",
            given,
        )
    return given


def recording_analyze_request(*, recording: Recording, options: dict) -> Recording:
    """Queue the analysis (202): not_analyzed/completed/failed → pending; 409 while one is
    pending or running, unless it is stale (is_being_analyzed): then it is queued again
    (a second task for one request is harmless: only one claims it, and the detection
    ids are the same). `options`: window_seconds (None or absent: the default that fits
    MAX_WINDOW_SAMPLES), fft_size (analysis.ANALYSIS_DEFAULTS)."""
    options = {
        **options,
        "window_seconds": _window_seconds(recording, options.get("window_seconds")),
    }
    with transaction.atomic():
        locked = Recording.objects.select_for_update().get(pk=recording.pk)
        if is_being_analyzed(locked):
            raise Conflict(
                f"The recording's analysis is already {locked.analysis_status}.",
                {"analysis_status": locked.analysis_status},
            )
        locked.analysis_status = Recording.AnalysisStatus.PENDING
        locked.analysis_progress_percent = 0.0
        locked.analysis_message = "Queued"
        locked.analysis_error = ""
        locked.analysis = {"options": options}
        locked.analysis_heartbeat_at = utc_now()
        locked.save(
            update_fields=[
                "analysis_heartbeat_at",
                "analysis_status",
                "analysis_progress_percent",
                "analysis_message",
                "analysis_error",
                "analysis",
            ]
        )
        dispatch(ANALYZE_TASK, str(locked.pk))
    return locked


# --- clips (annotations) ---------------------------------------------------------------------


def _check_clip(recording: Recording, values: dict) -> None:
    start, count = values["sample_start"], values["sample_count"]
    if start + count > recording.sample_count:
        raise ValidationFailed.for_field(
            "sample_count",
            f"the clip ends at sample {start + count}, past the recording's "
            f"{recording.sample_count} samples",
            count,
        )
    low, high = values.get("freq_lower_edge"), values.get("freq_upper_edge")
    if (low is None) != (high is None):
        missing = "freq_upper_edge" if high is None else "freq_lower_edge"
        raise ValidationFailed.for_field(missing, "give both edges, or neither")
    if low is not None:
        if high < low:
            raise ValidationFailed.for_field(
                "freq_upper_edge", "must not be below freq_lower_edge", high
            )
        info = sigmf_files.info_from_stored(recording.meta, recording.sample_count)
        problem = sigmf_files.edges_problem(info, start, count, low, high)
        if problem:
            which, why = problem
            raise ValidationFailed.for_field(
                f"freq_{which}_edge", why, low if which == "lower" else high
            )


def _measure(recording: Recording, values: dict) -> float | None:
    info = sigmf_files.info_from_stored(recording.meta, recording.sample_count)
    with local_data(recording) as path:
        return clip_math.clip_snr_db(path, info, **_edges(values))


def clip_create(*, user, recording: Recording, values: dict) -> RecordingClip:
    """A clip added by an operator (`values`: sample_start, sample_count, freq_lower_edge,
    freq_upper_edge, label, comment, metadata, approved); its SNR is measured now."""
    _check_clip(recording, values)
    approved = bool(values.pop("approved", False))
    clip = RecordingClip(
        recording=recording,
        source=RecordingClip.Source.OPERATOR,
        created_by=user,
        snr_db=_measure(recording, values),
        **values,
    )
    if approved:
        clip.approved, clip.approved_by, clip.approved_at = True, user, utc_now()
    clip.save(force_insert=True)
    return clip


def clip_update(*, user, clip: RecordingClip, changes: dict) -> RecordingClip:
    """PATCH as an RFC 7396 merge patch: the fields given replace the stored ones,
    `metadata` merges key by key (null removes a key). `approved: true` records who
    approved and when; relabelling an approved clip keeps it approved only when the
    same request says `approved: true` again."""
    with transaction.atomic():
        locked = (
            RecordingClip.objects.select_for_update().select_related("recording").get(pk=clip.pk)
        )
        names = ("sample_start", "sample_count", "freq_lower_edge", "freq_upper_edge")
        values = {k: changes[k] if k in changes else getattr(locked, k) for k in names}
        geometry_changed = any(getattr(locked, k) != v for k, v in values.items())
        if geometry_changed:  # relabelling or approving never fails on the stored geometry
            _check_clip(locked.recording, values)
        for name, value in values.items():
            setattr(locked, name, value)
        if "label" in changes:
            relabelled = changes["label"] != locked.label
            locked.label = changes["label"]
            if relabelled and locked.approved and changes.get("approved") is not True:
                locked.approved, locked.approved_by, locked.approved_at = False, None, None
        if "comment" in changes:
            locked.comment = changes["comment"]
        if "metadata" in changes:
            locked.metadata = json_merge_patch(locked.metadata, changes["metadata"]) or {}
        if "approved" in changes:
            if changes["approved"] and not locked.approved:
                locked.approved, locked.approved_by, locked.approved_at = True, user, utc_now()
            elif not changes["approved"]:
                locked.approved, locked.approved_by, locked.approved_at = False, None, None
        if geometry_changed:
            locked.snr_db = _measure(locked.recording, values)
        locked.save()
    return locked


def clip_delete(*, clip: RecordingClip) -> None:
    clip.delete()


def analysis_clips_replace(*, recording: Recording, proposals: list[dict]) -> int:
    """Replace the unapproved clips an earlier analysis proposed with `proposals`
    (approved ones stay: an operator has vouched for them)."""
    with transaction.atomic():
        RecordingClip.objects.filter(
            recording=recording, source=RecordingClip.Source.ANALYSIS, approved=False
        ).delete()
        RecordingClip.objects.bulk_create(
            [
                RecordingClip(recording=recording, source=RecordingClip.Source.ANALYSIS, **p)
                for p in proposals
            ]
        )
    return len(proposals)
