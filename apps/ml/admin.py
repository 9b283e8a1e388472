from django.contrib import admin

from apps.core.exceptions import HeimdallError
from apps.core.text import NormalizedTextAdminMixin
from apps.ml.models import MLModel
from apps.ml.services import model_activate


@admin.register(MLModel)
class MLModelAdmin(NormalizedTextAdminMixin, admin.ModelAdmin):
    normalized_text_fields = {"name": False, "description": True}

    list_display = ["name", "version", "model_type", "status", "deployment_date", "created_at"]
    list_filter = ["model_type", "status"]
    search_fields = ["name", "version", "description", "artifact_sha256"]
    # Status and deployment change only through model_activate (the live scorer follows it).
    readonly_fields = ["status", "deployment_date", "artifact_path", "artifact_sha256",
                       "created_at", "updated_at"]  # fmt: skip
    actions = ["activate"]

    @admin.action(description="Activate (deploy) the selected model for its task",
                  permissions=["change"])  # fmt: skip
    def activate(self, request, queryset):
        models = list(queryset)
        types = [m.model_type for m in models]
        if len(set(types)) != len(types):
            self.message_user(request, "Select at most one model per task.", level="error")
            return
        for model in models:
            try:
                model_activate(model=model)
            except HeimdallError as exc:
                self.message_user(request, f"{model}: {exc.message}", level="error")
            else:
                self.message_user(request, f"{model.name} {model.version} is now active.")
