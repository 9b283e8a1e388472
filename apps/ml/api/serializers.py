from rest_framework import serializers

from apps.ml.models import MLModel


class MLModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = MLModel
        fields = [
            "id",
            "name",
            "version",
            "model_type",
            "status",
            "metrics",
            "config",
            "artifact_sha256",
            "deployment_date",
            "last_training_date",
            "created_at",
        ]


class PredictRequestSerializer(serializers.Serializer):
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
