from django.contrib import admin

from apps.core.text import NormalizedTextAdminMixin
from apps.training.models import SyntheticDataset


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
