"""Reads of the recordings app, for its API and for training (recordings datasets)."""

from django.db.models import Count, Q, QuerySet

from apps.recordings.models import Recording, RecordingClip


def recording_list() -> QuerySet[Recording]:
    """Recordings newest first, with their clip counts (RecordingFilterSet narrows them)."""
    return Recording.objects.annotate(
        clip_count=Count("clips"),
        approved_clip_count=Count("clips", filter=Q(clips__approved=True)),
    ).order_by("-start_time", "id")


def station_has_recordings(station) -> bool:
    return Recording.objects.filter(station=station).exists()


def clip_list(*, recording: Recording) -> QuerySet[RecordingClip]:
    return RecordingClip.objects.filter(recording=recording).order_by("sample_start", "id")


def training_clips(
    *,
    only_approved: bool,
    min_snr_db: float | None,
    labels: list[str] | None = None,
    recording_ids: list | None = None,
) -> QuerySet[RecordingClip]:
    """Labelled clips a `recordings` training dataset is built from: approved ones only
    when `only_approved`, at or above `min_snr_db` (clips without a measured SNR are
    left out then; NOISE clips always count, as apps.training.selection says), of
    `labels` and `recording_ids` when given. Ordered for reproducibility."""
    clips = RecordingClip.objects.exclude(label="").select_related("recording")
    if only_approved:
        clips = clips.filter(approved=True)
    if min_snr_db is not None:  # NOISE clips have no signal, so no SNR: they always count
        clips = clips.filter(Q(snr_db__gte=min_snr_db) | Q(label__iexact="NOISE"))
    if labels:
        clips = clips.filter(label__in=labels)
    if recording_ids:
        clips = clips.filter(recording_id__in=recording_ids)
    return clips.order_by("recording_id", "sample_start", "id")


def label_counts(**criteria) -> dict[str, int]:
    """{label: clips} of training_clips(**criteria)."""
    rows = training_clips(**criteria).order_by().values_list("label").annotate(n=Count("id"))
    return dict(sorted(rows))
