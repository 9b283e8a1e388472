"""`/training`: jobs, the new-job form (seed 000 TrainingConfig), the job monitor, datasets.

The forms validate with the API's serializers (apps.training.config,
apps.training.api) and write through apps.training.services, as
POST /api/v1/training/jobs and /training/synthetic/generate do.
"""

from django.shortcuts import redirect
from rest_framework import serializers

from apps.accounts.roles import is_owner_or_admin
from apps.constellations.selectors import constellation_list
from apps.core.exceptions import HeimdallError
from apps.core.lookups import get_by_uuid_or_404
from apps.dashboard.forms import data_from_post, serializer_fields, validate
from apps.dashboard.views.base import ConsoleView, is_htmx
from apps.dashboard.views.pages import paginate
from apps.training.api.jobs import validated_job_request
from apps.training.api.serializers import GenerateSerializer
from apps.training.config import TrainingConfigSerializer
from apps.training.filters import TrainingJobFilterSet
from apps.training.models import SyntheticDataset, TrainingJob, TrainingMetric
from apps.training.selectors import dataset_list, fixed_receivers, job_list
from apps.training.services import dataset_request, job_cancel, job_create

# Seed 000's TrainingConfig groups, in its order.
CONFIG_GROUPS = [
    ("Model", ["model_architecture", "pretrained", "freeze_backbone"]),
    ("Data", ["dataset_id", "batch_size", "num_workers", "validation_split"]),
    ("Features", ["n_mels", "n_fft", "hop_length"]),
    ("Training", ["epochs", "learning_rate", "weight_decay", "dropout_rate",
                  "metrics_every_n_batches"]),
    ("Scheduler", ["lr_scheduler", "warmup_epochs", "early_stop_patience"]),
    ("Hardware", ["accelerator", "devices"]),
    ("Filters", ["min_snr_db", "only_approved"]),
]  # fmt: skip
GENERATE_GROUPS = [
    ("Dataset", ["name", "description", "dataset_type", "num_samples"]),
    ("Receivers", ["use_random_receivers", "constellation_id", "min_receivers_count",
                   "max_receivers_count", "receiver_seed"]),
    ("Area", ["area_lat_min", "area_lat_max", "area_lon_min", "area_lon_max"]),
    ("Transmitter", ["frequency_mhz", "tx_power_dbm", "min_snr_db", "min_receivers",
                     "max_gdop"]),
    ("Signal clips", ["snr_min_db", "snr_max_db", "clip_samples"]),
]  # fmt: skip
ACTIVE = (TrainingJob.Status.PENDING, TrainingJob.Status.QUEUED, TrainingJob.Status.RUNNING)


def grouped(fields, groups) -> list[tuple[str, list]]:
    by_name = {f.name: f for f in fields}
    layout = [(title, [by_name[n] for n in names if n in by_name]) for title, names in groups]
    placed = {n for _, names in groups for n in names}
    rest = [f for f in fields if f.name not in placed]
    return layout + ([("Other", rest)] if rest else [])


class JobListView(ConsoleView):
    read_permission = "training:read"
    nav = "training"

    def get(self, request):
        filterset = TrainingJobFilterSet(request.GET, queryset=job_list())
        rows, pagination = paginate(filterset.validated_queryset(), request.GET)
        status = filterset.form.cleaned_data.get("status") or ""
        template = (
            "dashboard/partials/job_table.html" if is_htmx(request) else ("dashboard/training.html")
        )
        return self.render(
            request, template, rows=rows, pagination=pagination, status_filter=status,
            statuses=TrainingJob.Status.values,
            any_active=any(job.status in ACTIVE for job in rows),
        )  # fmt: skip


class JobCreateView(ConsoleView):
    read_permission = write_permission = "training:write"
    nav = "training"

    def _form(self, request, *, values=None, errors=None, status=200):
        errors = errors or {}
        fields = serializer_fields(TrainingConfigSerializer, values, errors, prefix="config.")
        datasets = SyntheticDataset.objects.exclude(status=SyntheticDataset.Status.FAILED)
        return self.render(
            request, "dashboard/job_form.html", status=status,
            groups=grouped(fields, CONFIG_GROUPS),
            job_name=(values or {}).get("job_name", ""),
            auto_activate=bool((values or {}).get("auto_activate")),
            job_name_errors=errors.get("job_name", []),
            form_errors=errors.get("body", []) + errors.get("config", []),
            datasets=datasets.order_by("-created_at", "id")[:200],
        )  # fmt: skip

    def get(self, request):
        values = {}
        if request.GET.get("dataset_id"):
            values["dataset_id"] = request.GET["dataset_id"]
        return self._form(request, values=values)

    def post(self, request):
        """As POST /api/v1/training/jobs: its request check (every error at once, defaults
        adjusted to short runs) and job_create. Fields left at their default are not sent,
        so the server's adjustments (e.g. warm-up for a few epochs) apply as for the API."""
        submitted = data_from_post(TrainingConfigSerializer, request.POST)
        config = {k: v for k, v in submitted.items() if not _is_default(k, v)}
        job_name = request.POST.get("job_name", "").strip()
        auto_activate = "auto_activate" in request.POST
        shown = {**request.POST.dict(), "job_name": job_name, "auto_activate": auto_activate,
                 **_booleans(submitted)}  # fmt: skip
        try:
            body, resolved = validated_job_request(
                {"job_name": job_name, "config": config, "auto_activate": auto_activate}
            )
            job = job_create(user=request.user, job_name=body["job_name"], config=resolved,
                             config_name=body["config_name"],
                             auto_activate=body["auto_activate"])  # fmt: skip
        except HeimdallError as exc:
            errors = exc.details.get("fields") or {exc.details.get("field", "body"): [exc.message]}
            return self._form(request, values=shown, errors=errors, status=exc.status_code)
        return redirect("dashboard:job-detail", job_id=job.pk)


def _is_default(name: str, value) -> bool:
    field = TrainingConfigSerializer().fields[name]
    default = field.get_default() if field.default is not serializers.empty else None
    if isinstance(value, bool) or isinstance(default, bool):
        return value == default
    if value in (None, "") or default is None:
        return value in (None, "") and default is None
    try:
        return float(value) == float(default)
    except (TypeError, ValueError):
        return str(value) == str(default)


def _booleans(data: dict) -> dict:
    return {k: v for k, v in data.items() if isinstance(v, bool)}


def epoch_metrics(job) -> list[dict]:
    """One row per epoch (per-batch rows left out), oldest first, for the charts."""
    rows = (
        TrainingMetric.objects.filter(training_job=job, batch__isnull=True)
        .order_by("epoch", "timestamp")
        .values("epoch", "train_loss", "val_loss", "train_accuracy", "val_accuracy",
                "learning_rate")
    )  # fmt: skip
    by_epoch: dict[int, dict] = {}
    for row in rows:
        merged = by_epoch.setdefault(row["epoch"], {"epoch": row["epoch"]})
        merged.update({k: v for k, v in row.items() if v is not None})
    return list(by_epoch.values())


class JobDetailView(ConsoleView):
    """The monitor: status, step, message, progress, live charts from /ws/training/{id}."""

    read_permission = "training:read"
    write_permission = "training:write"
    nav = "training"

    def get(self, request, job_id):
        job = get_by_uuid_or_404(TrainingJob.objects.select_related("dataset"), job_id)
        return self.render(
            request, "dashboard/job_detail.html", job=job, metrics=epoch_metrics(job),
            terminal=job.status not in ACTIVE,
            may_cancel=is_owner_or_admin(request.user, job.created_by_id),
        )  # fmt: skip

    def post(self, request, job_id):
        """Cancel (the job's creator or an admin): the API's service and its check."""
        job = get_by_uuid_or_404(TrainingJob.objects.all(), job_id)
        job_cancel(user=request.user, job=job)
        return redirect("dashboard:job-detail", job_id=job.pk)


class DatasetListView(ConsoleView):
    read_permission = "training:read"
    write_permission = "training:write"
    nav = "datasets"

    def _page(self, request, *, values=None, errors=None, status=200):
        rows, pagination = paginate(dataset_list(), request.GET)
        fields = serializer_fields(GenerateSerializer, values, errors)
        template = (
            "dashboard/partials/dataset_table.html"
            if is_htmx(request)
            else ("dashboard/datasets.html")
        )
        return self.render(
            request, template, status=status, rows=rows, pagination=pagination,
            groups=grouped(fields, GENERATE_GROUPS),
            form_errors=(errors or {}).get("body", []),
            any_active=any(d.status in ("pending", "generating") for d in rows),
            constellations=constellation_list(user=request.user)[:200],
        )  # fmt: skip

    def get(self, request):
        return self._page(request)

    def post(self, request):
        """Generate (operators, admins): the API's serializer and service."""
        data = data_from_post(GenerateSerializer, request.POST)
        validated, errors = validate(GenerateSerializer, data)
        if errors:
            return self._page(request, values={**request.POST.dict(), **_booleans(data)},
                              errors=errors, status=400)  # fmt: skip
        name = validated.pop("name")
        description = validated.pop("description")
        dataset_type = validated.pop("dataset_type")
        try:
            if dataset_type == "localization" and not validated["use_random_receivers"]:
                validated["fixed_receivers"] = fixed_receivers(
                    user=request.user, parameters=validated
                )
        except HeimdallError as exc:
            field = exc.details.get("field", "body")
            return self._page(request, values={**request.POST.dict(), **_booleans(data)},
                              errors={field: [exc.message]}, status=exc.status_code)  # fmt: skip
        constellation_id = validated["constellation_id"]
        validated["constellation_id"] = str(constellation_id) if constellation_id else None
        dataset_request(user=request.user, name=name, description=description,
                        dataset_type=dataset_type, parameters=validated)  # fmt: skip
        return redirect("dashboard:datasets")
