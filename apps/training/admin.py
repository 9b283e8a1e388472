from django.contrib import admin

from apps.core.exceptions import HeimdallError
from apps.core.text import NormalizedTextAdminMixin
from apps.training.models import SyntheticDataset, TrainingJob, TrainingMetric
from apps.training.services import job_cancel


@admin.register(SyntheticDataset)
class SyntheticDatasetAdmin(NormalizedTextAdminMixin, admin.ModelAdmin):
    normalized_text_fields = {"name": False, "description": True}

    list_display = [
        "name",
        "dataset_type",
        "status",
        "num_samples",
        "progress_percent",
        "created_by",
        "created_at",
    ]
    list_filter = ["dataset_type", "status"]
    search_fields = ["name", "description"]
    readonly_fields = [
        "artifact_path",
        "artifact_sha256",
        "statistics",
        "created_at",
        "completed_at",
    ]


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written only by the training pipeline: shown, never edited here."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(TrainingJob)
class TrainingJobAdmin(ReadOnlyAdmin):
    list_display = ["job_name", "model_architecture", "status", "step", "current_epoch",
                    "total_epochs", "progress_percent", "created_by", "created_at"]  # fmt: skip
    list_filter = ["status", "model_architecture"]
    search_fields = ["=id", "job_name"]
    list_select_related = ["created_by"]
    actions = ["cancel"]

    @admin.action(description="Cancel the selected jobs (their data is kept)")
    def cancel(self, request, queryset):
        for job in queryset:
            try:
                job_cancel(user=request.user, job=job)
            except HeimdallError as exc:
                self.message_user(request, f"{job.job_name}: {exc.message}", level="warning")
            else:
                self.message_user(request, f"{job.job_name}: cancelled.")


@admin.register(TrainingMetric)
class TrainingMetricAdmin(ReadOnlyAdmin):
    list_display = ["training_job", "epoch", "batch", "phase", "train_loss", "val_loss",
                    "train_accuracy", "val_accuracy", "learning_rate", "timestamp"]  # fmt: skip
    list_filter = ["phase"]
    search_fields = ["=training_job__id", "training_job__job_name"]
    list_select_related = ["training_job"]
    show_full_result_count = False
