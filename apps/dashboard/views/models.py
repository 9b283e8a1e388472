"""`/models`: the registry; a model's metrics, status, activation; confusion matrix."""

from django.shortcuts import redirect

from apps.core.lookups import choice_param, get_by_uuid_or_404
from apps.dashboard.views.base import ConsoleView
from apps.ml.models import MLModel
from apps.ml.services import NOT_DEPLOYABLE, model_activate


def confusion(metrics: dict) -> dict | None:
    """The classifier's confusion matrix as heat-map rows: counts and each cell's share
    of its true class (row-normalised), or None when the metrics have none."""
    matrix = metrics.get("confusion_matrix")
    classes = metrics.get("classes")
    if not matrix or not classes or len(matrix) != len(classes):
        return None
    rows = []
    for name, counts in zip(classes, matrix, strict=True):
        total = sum(counts) or 1
        rows.append({"label": name, "cells": [{"count": c, "share": c / total} for c in counts]})
    return {"classes": classes, "rows": rows}


def scalar_metrics(metrics: dict) -> list[tuple[str, object]]:
    return [(k, v) for k, v in sorted(metrics.items()) if isinstance(v, int | float | str)]


class ModelListView(ConsoleView):
    read_permission = "models:read"
    nav = "models"

    def get(self, request):
        queryset = MLModel.objects.order_by("model_type", "-created_at")
        model_type = choice_param(request.GET, "model_type", MLModel.Type.values) or ""
        if model_type:
            queryset = queryset.filter(model_type=model_type)
        return self.render(
            request, "dashboard/models.html", rows=list(queryset[:500]),
            type_filter=model_type, types=MLModel.Type.values,
        )  # fmt: skip


class ModelDetailView(ConsoleView):
    read_permission = "models:read"
    write_permission = "models:write"
    nav = "models"

    def get(self, request, model_id):
        model = get_by_uuid_or_404(MLModel.objects.all(), model_id)
        return self.render(
            request, "dashboard/model_detail.html", model=model,
            scalars=scalar_metrics(model.metrics), confusion=confusion(model.metrics),
            deployable=model.status not in NOT_DEPLOYABLE
            and model.status != MLModel.Status.DEPLOYED,
        )  # fmt: skip

    def post(self, request, model_id):
        """Activate (admins): as POST /api/v1/models/{id}/activate, through model_activate."""
        model = get_by_uuid_or_404(MLModel.objects.all(), model_id)
        model_activate(model=model)
        return redirect("dashboard:model-detail", model_id=model.pk)
