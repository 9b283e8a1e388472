from django.contrib import admin

from apps.core.text import NormalizedTextAdminMixin
from apps.ml.models import MLModel


@admin.register(MLModel)
class MLModelAdmin(NormalizedTextAdminMixin, admin.ModelAdmin):
    normalized_text_fields = {"name": False, "description": True}

    list_display = ["name", "version", "model_type", "status", "deployment_date", "created_at"]
    list_filter = ["model_type", "status"]
    search_fields = ["name", "version", "description", "artifact_sha256"]
    readonly_fields = ["artifact_path", "artifact_sha256", "created_at", "updated_at"]
