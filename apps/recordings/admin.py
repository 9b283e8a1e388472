from django.contrib import admin

from apps.core.exceptions import HeimdallError
from apps.core.text import normalize_text, text_problem
from apps.recordings import services
from apps.recordings.models import Recording, RecordingClip


class ClipInline(admin.TabularInline):
    """Labels and approval are edited here, through the service as the API edits them
    (who approved and when is recorded; a relabel withdraws an approval); a clip's
    geometry, and new clips, go through the API (checked against the recording, SNR
    measured)."""

    model = RecordingClip
    extra = 0
    fields = [
        "sample_start",
        "sample_count",
        "freq_lower_edge",
        "freq_upper_edge",
        "label",
        "snr_db",
        "source",
        "approved",
        "approved_by",
        "approved_at",
    ]
    readonly_fields = [
        "sample_start",
        "sample_count",
        "freq_lower_edge",
        "freq_upper_edge",
        "snr_db",
        "source",
        "approved_by",
        "approved_at",
    ]

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Recording)
class RecordingAdmin(admin.ModelAdmin):
    """Uploads go through the API (validation, storage): the admin reads and labels;
    deleting goes through the service (its files too; not while it is being analyzed)."""

    list_display = ["name", "station", "start_time", "datatype", "sample_rate", "analysis_status"]
    list_filter = ["analysis_status", "datatype"]
    search_fields = ["name", "station__id"]
    readonly_fields = [
        f.name for f in Recording._meta.fields if f.name not in ("name", "description")
    ]
    inlines = [ClipInline]

    def has_add_permission(self, request):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Bulk delete is a queryset delete: it would leave the files in storage.
        actions.pop("delete_selected", None)
        return actions

    def has_delete_permission(self, request, obj=None):
        if obj is not None and services.is_being_analyzed(obj):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        services.recording_delete(recording=obj)

    def save_formset(self, request, form, formset, change):
        if formset.model is not RecordingClip:
            return super().save_formset(request, form, formset, change)
        deleted = set(formset.deleted_forms)
        # What the admin's change message reads (formset.save would have set them).
        formset.new_objects, formset.changed_objects = [], []
        formset.deleted_objects = [f.instance for f in deleted if f.instance.pk is not None]
        for clip_form in formset.forms:
            if clip_form in deleted or clip_form.instance.pk is None:
                continue
            if not clip_form.has_changed():
                continue
            clip = clip_form.instance
            changes = {k: clip_form.cleaned_data[k] for k in clip_form.changed_data}
            if "label" in changes:
                changes["label"] = normalize_text(changes["label"] or "")
                problem = text_problem(
                    changes["label"],
                    max_length=services.LABEL_MAX_LENGTH,
                    required=False,
                    multiline=False,
                )
                if problem:
                    self.message_user(request, f"{clip}: label {problem}", level="error")
                    continue
            try:
                services.clip_update(user=request.user, clip=clip, changes=changes)
            except HeimdallError as exc:
                self.message_user(request, f"{clip}: {exc.message}", level="error")
                continue
            formset.changed_objects.append((clip, clip_form.changed_data))
        for clip in formset.deleted_objects:
            services.clip_delete(clip=clip)
