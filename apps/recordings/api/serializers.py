from rest_framework import serializers

from apps.core.bands import MAX_FREQUENCY_HZ
from apps.core.fields import (
    JSONBooleanField,
    JSONFloatField,
    JSONIntegerField,
    RefuseUnknownFields,
)
from apps.core.text import FreeTextField, NameField
from apps.recordings.analysis import ANALYSIS_DEFAULTS, FFT_SIZE_MAX, FFT_SIZE_MIN
from apps.recordings.models import Recording, RecordingClip
from apps.recordings.services import (
    LABEL_MAX_LENGTH,
    MAX_WINDOW_SAMPLES,
    WINDOW_SECONDS_MAX,
    WINDOW_SECONDS_MIN,
)
from apps.recordings.sigmf_files import CLIP_KEYS

INT64_MAX = 2**63 - 1


class RecordingUploadSerializer(RefuseUnknownFields, serializers.Serializer):
    """The multipart form of POST /recordings: `meta` and `data`, or one `archive`."""

    meta = serializers.FileField(required=False, help_text="the .sigmf-meta file")
    data = serializers.FileField(required=False, help_text="the .sigmf-data file")
    archive = serializers.FileField(required=False, help_text="a .sigmf archive (tar)")
    websdr_station_id = serializers.CharField(
        required=False,
        max_length=64,
        help_text="the station that recorded it (default: the metadata's "
        "global.heimdall:websdr_station_id, or core:hw naming a station)",
    )
    name = NameField(required=False, max_length=255)
    description = FreeTextField(required=False, max_length=5000, default="")


class RecordingSerializer(serializers.ModelSerializer):
    websdr_station_id = serializers.CharField(source="station_id", read_only=True)
    created_by = serializers.UUIDField(source="created_by_id", allow_null=True, read_only=True)
    clip_count = serializers.IntegerField(read_only=True, required=False, allow_null=True)
    approved_clip_count = serializers.IntegerField(read_only=True, required=False, allow_null=True)

    class Meta:
        model = Recording
        fields = [
            "id",
            "name",
            "description",
            "websdr_station_id",
            "datatype",
            "sample_rate",
            "sample_count",
            "center_frequency_min_hz",
            "center_frequency_max_hz",
            "frequency_min_hz",
            "frequency_max_hz",
            "start_time",
            "end_time",
            "data_bytes",
            "data_sha512",
            "meta",
            "analysis_status",
            "analysis_progress_percent",
            "analysis_message",
            "analysis_error",
            "analysis",
            "analyzed_at",
            "clip_count",
            "approved_clip_count",
            "created_by",
            "created_at",
        ]


class RecordingAnalyzeRequestSerializer(RefuseUnknownFields, serializers.Serializer):
    window_seconds = JSONFloatField(
        min_value=WINDOW_SECONDS_MIN,
        max_value=WINDOW_SECONDS_MAX,
        required=False,
        help_text="seconds of samples per analysed window (the last of a capture is "
        f"shorter); at most {MAX_WINDOW_SAMPLES} samples at the recording's rate; default "
        f"{ANALYSIS_DEFAULTS['window_seconds']} s, shortened to fit",
    )
    fft_size = JSONIntegerField(
        min_value=FFT_SIZE_MIN,
        max_value=FFT_SIZE_MAX,
        default=ANALYSIS_DEFAULTS["fft_size"],
        help_text="Welch segment length, a power of two",
    )

    def validate_fft_size(self, value):
        if value & (value - 1):
            raise serializers.ValidationError("must be a power of two")
        return value


class RecordingClipSerializer(serializers.ModelSerializer):
    recording_id = serializers.UUIDField(read_only=True)
    approved_by = serializers.UUIDField(source="approved_by_id", allow_null=True, read_only=True)
    created_by = serializers.UUIDField(source="created_by_id", allow_null=True, read_only=True)

    class Meta:
        model = RecordingClip
        fields = [
            "id",
            "recording_id",
            "sample_start",
            "sample_count",
            "freq_lower_edge",
            "freq_upper_edge",
            "label",
            "comment",
            "metadata",
            "snr_db",
            "source",
            "approved",
            "approved_by",
            "approved_at",
            "created_by",
            "created_at",
            "updated_at",
        ]


class RecordingClipWriteSerializer(RefuseUnknownFields, serializers.Serializer):
    """A clip as SigMF annotates it (`core:sample_start` ... as plain names)."""

    sample_start = JSONIntegerField(min_value=0, max_value=INT64_MAX)
    sample_count = JSONIntegerField(min_value=1, max_value=INT64_MAX)
    freq_lower_edge = JSONIntegerField(
        min_value=0, max_value=MAX_FREQUENCY_HZ, required=False, allow_null=True, default=None
    )
    freq_upper_edge = JSONIntegerField(
        min_value=0, max_value=MAX_FREQUENCY_HZ, required=False, allow_null=True, default=None
    )
    label = NameField(max_length=LABEL_MAX_LENGTH)
    comment = FreeTextField(required=False, max_length=5000, default="")
    metadata = serializers.DictField(required=False, default=dict)
    approved = JSONBooleanField(required=False, default=False)

    def validate_metadata(self, value):
        """Free-form keys, but not the clip's own fields under their SigMF names (the
        export writes those from the clip: `core:freq_lower_edge` here made an exported
        annotation with one edge, which no upload accepts)."""
        for key, item in (value or {}).items():
            if key in CLIP_KEYS and item is not None:  # null: a merge patch removing it
                raise serializers.ValidationError(
                    f"'{key}' is a field of the clip, not metadata: set it with its own field"
                )
        return value


class RecordingClipPatchSerializer(RecordingClipWriteSerializer):
    """PATCH: an RFC 7396 merge patch; every field optional, `metadata` merges."""

    sample_start = JSONIntegerField(min_value=0, max_value=INT64_MAX, required=False)
    sample_count = JSONIntegerField(min_value=1, max_value=INT64_MAX, required=False)
    freq_lower_edge = JSONIntegerField(
        min_value=0, max_value=MAX_FREQUENCY_HZ, required=False, allow_null=True
    )
    freq_upper_edge = JSONIntegerField(
        min_value=0, max_value=MAX_FREQUENCY_HZ, required=False, allow_null=True
    )
    label = NameField(max_length=LABEL_MAX_LENGTH, required=False)
    comment = FreeTextField(required=False, max_length=5000)
    metadata = serializers.DictField(required=False, allow_null=True)
    approved = JSONBooleanField(required=False)
