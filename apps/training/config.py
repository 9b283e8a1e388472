"""Training configuration: seed 000's TrainingConfig, every field with its range and default."""

from rest_framework import serializers

LOCALIZATION_ARCHITECTURES = ("deepsets", "set_transformer")
CLASSIFICATION_ARCHITECTURES = ("convnext_tiny", "convnext_small", "convnext_large")


class TrainingConfigSerializer(serializers.Serializer):
    # Model
    model_architecture = serializers.ChoiceField(
        LOCALIZATION_ARCHITECTURES + CLASSIFICATION_ARCHITECTURES, default="deepsets"
    )
    pretrained = serializers.BooleanField(default=True)
    freeze_backbone = serializers.BooleanField(default=False)
    # Data
    dataset_id = serializers.UUIDField(required=False, allow_null=True, default=None)
    batch_size = serializers.IntegerField(min_value=1, max_value=512, default=32)
    num_workers = serializers.IntegerField(min_value=0, max_value=16, default=4)
    validation_split = serializers.FloatField(min_value=0.0, max_value=0.5, default=0.2)
    # Features (spectrogram models)
    n_mels = serializers.IntegerField(min_value=8, max_value=512, default=128)
    n_fft = serializers.IntegerField(min_value=64, max_value=16_384, default=2048)
    hop_length = serializers.IntegerField(min_value=1, max_value=16_384, default=512)
    # Training
    epochs = serializers.IntegerField(min_value=1, max_value=1000, default=100)
    learning_rate = serializers.FloatField(min_value=1e-7, max_value=1.0, default=0.001)
    weight_decay = serializers.FloatField(min_value=0.0, max_value=1.0, default=0.0001)
    dropout_rate = serializers.FloatField(min_value=0.0, max_value=0.9, default=0.2)
    # Scheduler
    lr_scheduler = serializers.ChoiceField(["cosine", "step", "plateau"], default="cosine")
    warmup_epochs = serializers.IntegerField(min_value=0, max_value=1000, default=5)
    early_stop_patience = serializers.IntegerField(min_value=0, max_value=1000, default=10)
    # Optional per-batch metric rows (0: one row per epoch only)
    metrics_every_n_batches = serializers.IntegerField(min_value=0, max_value=100_000, default=0)
    # Hardware
    accelerator = serializers.ChoiceField(["gpu", "cpu"], default="cpu")
    devices = serializers.IntegerField(min_value=1, max_value=64, default=1)
    # Filters
    min_snr_db = serializers.FloatField(min_value=-30, max_value=60, default=10.0)
    only_approved = serializers.BooleanField(default=True)

    def validate_n_fft(self, value):
        if value & (value - 1):
            raise serializers.ValidationError("must be a power of two")
        return value

    def validate(self, attrs):
        if attrs["hop_length"] > attrs["n_fft"]:
            raise serializers.ValidationError({"hop_length": "must not exceed n_fft"})
        if attrs["n_mels"] > attrs["n_fft"] // 2 + 1:
            raise serializers.ValidationError({"n_mels": "must not exceed n_fft / 2 + 1"})
        if attrs["warmup_epochs"] >= attrs["epochs"] and attrs["warmup_epochs"] > 0:
            raise serializers.ValidationError({"warmup_epochs": "must be fewer than epochs"})
        if attrs["devices"] > 1:
            # One worker per device (Procfile `trainer`): more GPUs run more jobs at once.
            raise serializers.ValidationError(
                {"devices": "a job trains on one device; run a training worker per GPU"}
            )
        if attrs["accelerator"] == "gpu" and gpu_count() == 0:
            raise serializers.ValidationError({"accelerator": "no GPU on this server: use 'cpu'"})
        return attrs


def gpu_count() -> int:
    """GPUs torch can use here (torch imported only when a GPU is asked for)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def is_localization(architecture: str) -> bool:
    return architecture in LOCALIZATION_ARCHITECTURES
