"""`/models`: the registry; a model's inspection (seed 001: saved validation, confusion
matrix, per-class scores), status and activation (admins, through model_activate)."""

from django.shortcuts import redirect

from apps.core.lookups import get_by_uuid_or_404
from apps.dashboard.views.base import ConsoleView
from apps.ml import states
from apps.ml.bundles import InvalidBundle
from apps.ml.filters import MLModelFilterSet
from apps.ml.inspection import inspect_model
from apps.ml.models import MLModel
from apps.ml.selectors import model_list
from apps.ml.services import model_activate


def confusion(validation: dict) -> dict | None:
    """The classifier's confusion matrix as heat-map rows: counts and each cell's share
    of its true class (row-normalised), or None when the inspection has none."""
    matrix = validation.get("confusion_matrix")
    labels = validation.get("label_names")
    if not matrix or not labels or len(matrix) != len(labels):
        return None
    rows = []
    for name, counts in zip(labels, matrix, strict=True):
        total = sum(counts) or 1
        rows.append({"label": name, "cells": [{"count": c, "share": c / total} for c in counts]})
    return {"classes": labels, "rows": rows}


def scalars(values: dict) -> list[tuple[str, object]]:
    return [(k, v) for k, v in sorted(values.items()) if isinstance(v, int | float | str)]


class ModelListView(ConsoleView):
    read_permission = "models:read"
    nav = "models"

    def get(self, request):
        filterset = MLModelFilterSet(request.GET, queryset=model_list())
        rows = list(filterset.validated_queryset()[:500])
        model_type = filterset.form.cleaned_data.get("model_type") or ""
        return self.render(
            request, "dashboard/models.html", rows=rows, type_filter=model_type,
            types=MLModel.Type.values,
        )  # fmt: skip


class ModelDetailView(ConsoleView):
    read_permission = "models:read"
    write_permission = "models:write"
    nav = "models"

    def get(self, request, model_id):
        model = get_by_uuid_or_404(MLModel.objects.all(), model_id)
        try:
            inspection, invalid = inspect_model(model), None
        except InvalidBundle as exc:
            inspection, invalid = None, exc.message
        validation = (inspection or {}).get("bundle_saved_validation") or {}
        return self.render(
            request, "dashboard/model_detail.html", model=model, inspection=inspection,
            invalid=invalid, scalars=scalars(model.metrics), validation_scalars=scalars(validation),
            per_class=validation.get("per_class"),
            top_pairs=validation.get("top_confusion_pairs") or [],
            percentiles=validation.get("error_percentiles_m"),
            confusion=confusion(validation),
            deployable=invalid is None and model.status in states.ACTIVATABLE
            and model.status != states.DEPLOYED,
        )  # fmt: skip

    def post(self, request, model_id):
        """Activate (admins): as POST /api/v1/models/{id}/activate, through model_activate."""
        model = get_by_uuid_or_404(MLModel.objects.all(), model_id)
        model_activate(model=model)
        return redirect("dashboard:model-detail", model_id=model.pk)
