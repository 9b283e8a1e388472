"""Seed 002's configs, runs and status, and seed 001's data-check, under /api/v1/training."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.roles import Role, role_of
from apps.core.exceptions import NotFound, ValidationFailed
from apps.core.fields import RefuseUnknownFields
from apps.core.lookups import choice_param, get_by_uuid_or_404
from apps.core.pagination import IntParam, LimitOffsetPaginator
from apps.core.schema import filterset_parameters
from apps.core.text import FreeTextField
from apps.training import selectors
from apps.training.api.jobs import MetricSerializer
from apps.training.config import (
    CLASSIFICATION_ARCHITECTURES,
    LOCALIZATION_ARCHITECTURES,
    TrainingConfigSerializer,
    config_errors,
    dataset_type_for,
)
from apps.training.filters import TrainingJobFilterSet
from apps.training.models import SyntheticDataset, TrainingConfigPreset, TrainingJob
from apps.training.readiness import data_check, newest_ready
from apps.training.services import preset_create, preset_delete, preset_update

ARCHITECTURES = LOCALIZATION_ARCHITECTURES + CLASSIFICATION_ARCHITECTURES
RUNS_PAGINATOR = LimitOffsetPaginator(items_key="runs")
RUN_METRICS_LIMIT = IntParam("limit", 1, 10_000, 1000, "The last `limit` metric rows")


# --- configuration presets ----------------------------------------------------------------


class PresetSerializer(serializers.ModelSerializer):
    """A named configuration: the fields it sets (`config`) and the whole config a job
    naming it would start from (`resolved`: defaults filled in, clamped where needed)."""

    resolved = serializers.SerializerMethodField()
    created_by = serializers.UUIDField(source="created_by_id", allow_null=True, read_only=True)

    class Meta:
        model = TrainingConfigPreset
        fields = [
            "name",
            "description",
            "config",
            "resolved",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def get_resolved(self, preset) -> dict:
        return config_errors(preset.config, check_gpu=False)[0]


class PresetCreateSerializer(RefuseUnknownFields, serializers.Serializer):
    name = serializers.SlugField(max_length=100)
    description = FreeTextField(required=False, default="")
    config = serializers.DictField(required=False, default=dict)


class PresetCreateSchema(PresetCreateSerializer):
    config = TrainingConfigSerializer(required=False, partial=True)


class PresetUpdateSerializer(RefuseUnknownFields, serializers.Serializer):
    description = FreeTextField(required=False)
    config = serializers.DictField(required=False)


def _validated(serializer_class, data):
    body = serializer_class(data=data)
    if not body.is_valid():
        raise ValidationFailed.for_errors(body.errors)
    return body.validated_data


class PresetListResponseSerializer(serializers.Serializer):
    """`GET /training/configs`: every named configuration, their names and count."""

    configs = PresetSerializer(many=True)
    available_configs = serializers.ListField(child=serializers.CharField())
    total = serializers.IntegerField()


class PresetListView(APIView):
    resource = "training"

    @extend_schema(tags=["training"], responses={200: PresetListResponseSerializer})
    def get(self, request):
        """Seed 002's shape, no pages: `configs`, `available_configs` (names), `total`."""
        presets = selectors.preset_list()
        return Response(
            {
                "configs": PresetSerializer(presets, many=True).data,
                "available_configs": [p.name for p in presets],
                "total": len(presets),
            }
        )

    @extend_schema(tags=["training"], request=PresetCreateSchema, responses={201: PresetSerializer})
    def post(self, request):
        data = _validated(PresetCreateSerializer, request.data)
        preset = preset_create(
            user=request.user,
            name=data["name"],
            description=data["description"],
            config=data["config"],
        )
        return Response(PresetSerializer(preset).data, status=status.HTTP_201_CREATED)


def _preset(name: str) -> TrainingConfigPreset:
    preset = TrainingConfigPreset.objects.filter(name=name).first()
    if preset is None:
        raise NotFound(f"No training configuration named '{name}'.")
    return preset


class PresetDetailView(APIView):
    resource = "training"

    @extend_schema(tags=["training"], responses={200: PresetSerializer})
    def get(self, request, name):
        return Response(PresetSerializer(_preset(name)).data)

    @extend_schema(
        tags=["training"], request=PresetUpdateSerializer, responses={200: PresetSerializer}
    )
    def put(self, request, name):
        preset = _preset(name)
        data = _validated(PresetUpdateSerializer, request.data)
        preset = preset_update(
            user=request.user,
            preset=preset,
            description=data.get("description"),
            config=data.get("config"),
        )
        return Response(PresetSerializer(preset).data)

    @extend_schema(tags=["training"], responses={204: None})
    def delete(self, request, name):
        preset_delete(user=request.user, preset=_preset(name))
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- runs -----------------------------------------------------------------------------------


class RunSummarySerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    job_name = serializers.CharField()
    status = serializers.CharField()
    model_architecture = serializers.CharField()
    config_name = serializers.CharField(allow_null=True)
    dataset_id = serializers.UUIDField(allow_null=True)
    best_epoch = serializers.IntegerField(allow_null=True)
    best_val_loss = serializers.FloatField(allow_null=True)
    final_metrics = serializers.DictField()
    epochs_run = serializers.IntegerField()
    total_epochs = serializers.IntegerField()
    early_stopped = serializers.BooleanField(allow_null=True)
    duration_seconds = serializers.FloatField(allow_null=True)
    train_seconds = serializers.FloatField(allow_null=True)
    samples_per_second = serializers.FloatField(allow_null=True)
    device = serializers.CharField(allow_null=True)
    model_id = serializers.UUIDField(allow_null=True)
    resume_count = serializers.IntegerField()
    resumed_from_epoch = serializers.IntegerField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    error_message = serializers.CharField(allow_null=True)


def _job(job_id: str) -> TrainingJob:
    return get_by_uuid_or_404(TrainingJob.objects.all(), job_id)


class RunListView(APIView):
    resource = "training"

    @extend_schema(
        tags=["training"],
        parameters=[*filterset_parameters(TrainingJobFilterSet), *RUNS_PAGINATOR.parameters()],
        responses={
            200: RUNS_PAGINATOR.response_serializer("TrainingRunList", RunSummarySerializer)
        },
    )
    def get(self, request):
        """`{"runs": [summary...], "total": n}`, newest first, `limit`/`offset` pages.
        TrainingJobFilterSet → selectors.job_list → RUNS_PAGINATOR → run summaries."""
        params = request.query_params
        queryset = TrainingJobFilterSet(params, queryset=selectors.job_list()).validated_queryset()
        rows, block = RUNS_PAGINATOR.paginate(queryset, params)
        return Response(RUNS_PAGINATOR.body([selectors.run_summary(job) for job in rows], block))


class RunMetricsResponseSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    status = serializers.CharField()
    metrics = MetricSerializer(many=True)


class LatestMetricsResponseSerializer(RunSummarySerializer):
    metrics = MetricSerializer(many=True)


class RunMetricsView(APIView):
    resource = "training"

    @extend_schema(
        tags=["training"],
        parameters=[RUN_METRICS_LIMIT.openapi()],
        responses={200: RunMetricsResponseSerializer},
    )
    def get(self, request, job_id):
        job = _job(job_id)
        limit = RUN_METRICS_LIMIT.parse(request.query_params)
        rows = selectors.run_metrics(job, limit)
        return Response(
            {
                "job_id": str(job.pk),
                "status": job.status,
                "metrics": MetricSerializer(rows, many=True).data,
            }
        )


class RunSummaryView(APIView):
    resource = "training"

    @extend_schema(tags=["training"], responses={200: RunSummarySerializer})
    def get(self, request, job_id):
        return Response(selectors.run_summary(_job(job_id)))


class LatestMetricsView(APIView):
    """The most recent completed run: its summary and per-epoch metrics (404 before any)."""

    resource = "training"
    extra_error_statuses = (404,)  # before any run has completed

    @extend_schema(tags=["training"], responses={200: LatestMetricsResponseSerializer})
    def get(self, request):
        job = selectors.latest_run()
        if job is None:
            raise NotFound("No training run has completed yet.")
        rows = selectors.run_metrics(job, 1000)
        return Response(
            {**selectors.run_summary(job), "metrics": MetricSerializer(rows, many=True).data}
        )


class SlotJobSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    job_name = serializers.CharField()
    step = serializers.CharField()
    current_epoch = serializers.IntegerField()
    total_epochs = serializers.IntegerField()
    progress_percent = serializers.FloatField()
    message = serializers.CharField()


class SlotSerializer(serializers.Serializer):
    slot = serializers.IntegerField()
    worker = serializers.CharField(allow_null=True, help_text="host:pid, admins only")
    cluster = serializers.CharField()
    gpu_count = serializers.IntegerField(allow_null=True)
    devices = serializers.ListField(child=serializers.CharField())
    seen_at = serializers.DateTimeField(allow_null=True)
    job = SlotJobSerializer(allow_null=True)


class StatusSerializer(serializers.Serializer):
    running = serializers.BooleanField()
    slots = SlotSerializer(many=True)
    queued_jobs = serializers.IntegerField()
    timestamp = serializers.DateTimeField()


class StatusView(APIView):
    """Per worker slot what is running, and how many jobs wait. Worker host names and
    process ids are shown to admins only."""

    resource = "training"

    @extend_schema(tags=["training"], responses={200: StatusSerializer})
    def get(self, request):
        admin = role_of(request.user) == Role.ADMIN
        return Response(selectors.training_status(show_workers=admin))


# --- data readiness ----------------------------------------------------------------------------


class DataCheckSerializer(serializers.Serializer):
    dataset_id = serializers.UUIDField(allow_null=True)
    dataset_type = serializers.CharField()
    model_architecture = serializers.CharField()
    min_snr_db = serializers.FloatField()
    total_samples = serializers.IntegerField()
    trainable_samples = serializers.IntegerField()
    trainable_labels = serializers.ListField(child=serializers.CharField())
    per_class = serializers.DictField(child=serializers.IntegerField(), allow_null=True)
    per_class_total = serializers.DictField(child=serializers.IntegerField(), required=False)
    receivers_per_sample = serializers.DictField(required=False)
    receivers_below_min_snr = serializers.IntegerField(required=False)
    snr_db = serializers.DictField(required=False)
    per_source = serializers.DictField(child=serializers.IntegerField(), required=False)
    train_samples = serializers.IntegerField()
    val_samples = serializers.IntegerField()
    problems = serializers.ListField(child=serializers.CharField())


class DataCheckView(APIView):
    """Seed 001's data-check: what a job would train on (trainable samples, labels, per-class
    counts, SNR distribution, problems)."""

    resource = "training"
    extra_error_statuses = (404,)  # dataset_id naming no dataset

    @extend_schema(
        tags=["training"],
        parameters=[
            OpenApiParameter(
                "dataset_id",
                str,
                description="default: the newest ready dataset "
                "of the kind the architecture trains on",
            ),
            OpenApiParameter("model_architecture", str, enum=list(ARCHITECTURES)),
            OpenApiParameter("config_name", str),
            OpenApiParameter("min_snr_db", float),
            OpenApiParameter(
                "only_approved",
                str,
                enum=["true", "false"],
                description="recordings datasets: approved clips only (default true)",
            ),
        ],
        responses={200: DataCheckSerializer},
    )
    def get(self, request):
        params = request.query_params
        given: dict = {}
        if params.get("config_name"):
            given.update(_preset_for_check(params["config_name"]).config)
        architecture = choice_param(params, "model_architecture", ARCHITECTURES)
        if architecture:
            given["model_architecture"] = architecture
        if params.get("min_snr_db") not in (None, ""):
            try:
                given["min_snr_db"] = float(params["min_snr_db"])
            except ValueError:
                raise ValidationFailed.for_field(
                    "min_snr_db", "must be a number", params["min_snr_db"]
                ) from None
        approved = choice_param(params, "only_approved", ("true", "false"))
        if approved:
            given["only_approved"] = approved == "true"
        config, errors = config_errors(given, check_gpu=False)
        if errors:
            raise ValidationFailed.for_errors(errors)
        dataset = None
        if params.get("dataset_id"):
            dataset = get_by_uuid_or_404(SyntheticDataset.objects.all(), params["dataset_id"])
        else:
            dataset = newest_ready(dataset_type_for(config["model_architecture"]))
        return Response(
            data_check(
                dataset=dataset,
                architecture=config["model_architecture"],
                min_snr_db=config["min_snr_db"],
                validation_split=config["validation_split"],
                only_approved=config["only_approved"],
            )
        )


def _preset_for_check(name: str) -> TrainingConfigPreset:
    preset = TrainingConfigPreset.objects.filter(name=name).first()
    if preset is None:
        raise ValidationFailed.for_field("config_name", "unknown configuration", name)
    return preset
