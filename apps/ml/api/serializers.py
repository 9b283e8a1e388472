from rest_framework import serializers

from apps.core.fields import RefuseUnknownFields
from apps.core.text import FreeTextField, NameField
from apps.ml import bundles, training_configs
from apps.ml.models import MLModel


class MLModelSerializer(serializers.ModelSerializer):
    """A registry record: seed 004's fields, seed 003's (`training_config`,
    `performance_metrics`, `training_metrics`, `metadata`), seed 001's bundle validity."""

    training_config = serializers.JSONField(source="config", read_only=True)
    performance_metrics = serializers.JSONField(source="metrics", read_only=True)
    created_by = serializers.UUIDField(source="created_by_id", allow_null=True, read_only=True)
    valid = serializers.SerializerMethodField()
    invalid_reason = serializers.SerializerMethodField()

    class Meta:
        model = MLModel
        fields = [
            "id",
            "name",
            "version",
            "model_type",
            "architecture",
            "status",
            "description",
            "metrics",
            "config",
            "training_config",
            "performance_metrics",
            "training_metrics",
            "metadata",
            "failure_reason",
            "artifact_sha256",
            "valid",
            "invalid_reason",
            "deployment_date",
            "last_training_date",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def _check(self, model) -> str | None:
        cache = self.context.setdefault("_bundle_checks", {})
        if model.pk not in cache:
            cache[model.pk] = bundles.model_bundle(model)[1]
        return cache[model.pk]

    def get_valid(self, model) -> bool:
        return self._check(model) is None

    def get_invalid_reason(self, model) -> str | None:
        return self._check(model)


class ModelCreateSerializer(RefuseUnknownFields, serializers.Serializer):
    # Seed 003's project and ontology ids are not Heimdall concepts: accepted, ignored.
    ignored_fields = ("project_id", "ontology_id")
    name = NameField(max_length=255)
    description = FreeTextField(required=False, default="")
    model_type = serializers.ChoiceField(MLModel.Type.choices)
    architecture = serializers.CharField(
        max_length=100, required=False, allow_blank=True, default=""
    )
    training_config = serializers.DictField(required=False, default=dict)
    metadata = serializers.DictField(required=False, default=dict)
    version = serializers.RegexField(
        r"^\d+\.\d+\.\d+$",
        max_length=32,
        required=False,
        help_text="x.y.z; default 1.0.0, or the next free patch",
    )

    def validate(self, attrs):
        known = training_configs.architectures(attrs["model_type"])
        if attrs["architecture"] and attrs["architecture"] not in known:
            raise serializers.ValidationError(
                {"architecture": f"a {attrs['model_type']} model is one of {', '.join(known)}"}
            )
        attrs["architecture"] = attrs["architecture"] or (known[0] if known else "")
        config = attrs["training_config"]
        given = config.get("model_architecture")
        if given is not None and given != attrs["architecture"] and given in known:
            if self.initial_data.get("architecture"):
                raise serializers.ValidationError(
                    {"training_config": {"model_architecture": "differs from architecture"}}
                )
            attrs["architecture"] = given
        return attrs


class ModelUpdateSerializer(RefuseUnknownFields, serializers.Serializer):
    name = NameField(max_length=255, required=False)
    description = FreeTextField(required=False)
    status = serializers.ChoiceField(MLModel.Status.values, required=False)
    training_metrics = serializers.DictField(required=False)
    performance_metrics = serializers.DictField(required=False)
    metadata = serializers.DictField(required=False)


class TrainingCompleteSerializer(RefuseUnknownFields, serializers.Serializer):
    model_artifact_path = serializers.CharField(
        max_length=512,
        help_text="The bundle in Heimdall's artifact storage: its folder, or its bundle.json "
        "or model file (a relative path; no URL, no '..')",
    )
    performance_metrics = serializers.DictField(required=False, default=dict)
    training_metrics = serializers.DictField(required=False, default=dict)


class TrainingFailSerializer(RefuseUnknownFields, serializers.Serializer):
    reason = FreeTextField(max_length=5000, allow_blank=False)


class CallbackResponseSerializer(serializers.Serializer):
    status = serializers.CharField()


class InspectSerializer(serializers.Serializer):
    loaded = serializers.BooleanField(required=False)
    reason = serializers.CharField(required=False)
    model_id = serializers.UUIDField(required=False)
    bundle_path = serializers.CharField(required=False)
    metadata = serializers.DictField(required=False)
    bundle_saved_validation = serializers.DictField(required=False)


class PredictRequestSerializer(RefuseUnknownFields, serializers.Serializer):
    features = serializers.DictField(
        help_text="spectral_centroid, bandwidth, snr_estimate, signal_power (numbers)"
    )


class PredictionSerializer(serializers.Serializer):
    anomaly_score = serializers.FloatField()
    is_anomaly = serializers.BooleanField()
    confidence = serializers.FloatField()


class PredictResponseSerializer(serializers.Serializer):
    model_id = serializers.UUIDField()
    prediction = PredictionSerializer()
    processing_time_ms = serializers.FloatField()
    timestamp = serializers.DateTimeField()
