"""Seed 000 /training/jobs endpoints."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.roles import Role, role_of
from apps.core.exceptions import ValidationFailed, validation_details
from apps.core.fields import JSONBooleanField, RefuseUnknownFields
from apps.core.lookups import get_by_uuid_or_404
from apps.core.pagination import IntParam, LimitOffsetPaginator
from apps.core.schema import filterset_parameters
from apps.core.text import NameField
from apps.training.config import TrainingConfigSerializer, config_failure
from apps.training.filters import TrainingJobFilterSet
from apps.training.models import TrainingJob, TrainingMetric
from apps.training.selectors import job_list, run_metrics
from apps.training.services import job_cancel, job_create, job_delete, resolve_job_config

JOB_FIELDS = [
    "id",
    "job_name",
    "status",
    "step",
    "message",
    "created_at",
    "started_at",
    "completed_at",
    "celery_task_id",
    "config",
    "current_epoch",
    "total_epochs",
    "progress_percent",
    "train_loss",
    "val_loss",
    "train_accuracy",
    "val_accuracy",
    "learning_rate",
    "best_epoch",
    "best_val_loss",
    "checkpoint_path",
    "onnx_model_path",
    "mlflow_run_id",
    "error_message",
    "dataset_size",
    "train_samples",
    "val_samples",
    "model_architecture",
    "metrics",
    "worker",
    "heartbeat_at",
    "config_name",
    "auto_activate",
    "model_id",
    "resume_count",
    "resumed_from_epoch",
    "created_by",
]
ADMIN_ONLY_FIELDS = ("worker",)  # host names and process ids
METRIC_FIELDS = [
    "epoch",
    "batch",
    "train_loss",
    "val_loss",
    "train_accuracy",
    "val_accuracy",
    "learning_rate",
    "gradient_norm",
    "phase",
    "timestamp",
]


class JobSerializer(serializers.ModelSerializer):
    """A training job (seed 000's columns and Heimdall's). `worker` (host:pid) is shown to
    admins only: null for everyone else."""

    model_id = serializers.UUIDField(source="ml_model_id", allow_null=True, read_only=True)
    created_by = serializers.UUIDField(source="created_by_id", allow_null=True, read_only=True)
    worker = serializers.CharField(allow_null=True, read_only=True)

    class Meta:
        model = TrainingJob
        fields = JOB_FIELDS

    def to_representation(self, instance):
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is None or role_of(request.user) != Role.ADMIN:
            for name in ADMIN_ONLY_FIELDS:
                data[name] = None
        return data


class MetricSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrainingMetric
        fields = METRIC_FIELDS


class JobCreateSerializer(RefuseUnknownFields, serializers.Serializer):
    job_name = NameField(max_length=255)
    config = serializers.DictField(required=False, default=dict)
    config_name = serializers.SlugField(max_length=100, required=False, allow_blank=True,
                                        default="")  # fmt: skip
    auto_activate = JSONBooleanField(required=False, default=False)


class JobCreateSchema(JobCreateSerializer):
    """The request as documented: `config` with every field's range and default."""

    config = TrainingConfigSerializer(required=False)


def validated_job_request(data) -> tuple[dict, dict]:
    """(body, resolved config), or one 400 naming every invalid field of both."""
    body = JobCreateSerializer(data=data)
    body_ok = body.is_valid()
    errors = {} if body_ok else dict(body.errors)
    config, config_errors = {}, {}
    raw = data.get("config", {}) if isinstance(data, dict) else {}
    name = data.get("config_name") if isinstance(data, dict) else None
    if "config" not in errors and "config_name" not in errors:
        config, config_errors = resolve_job_config(
            config=raw if isinstance(raw, dict) else {}, config_name=name or None
        )
    if config_errors or errors:
        if config_errors:
            failure = config_failure(config_errors, "config")
            errors["config"] = {
                key.removeprefix("config."): value
                for key, value in failure.details["fields"].items()
            }
        details = validation_details(errors)
        raise ValidationFailed(
            f"Invalid value for '{details['field']}': {details['constraint']}"
            + (f" (and {len(details['fields']) - 1} more)" if len(details["fields"]) > 1 else ""),
            details,
        )
    return body.validated_data, config


JOBS_PAGINATOR = LimitOffsetPaginator(items_key="jobs")
METRICS_LIMIT = IntParam("limit", 1, 10_000, 100, "The last `limit` metric rows")


def _job(job_id: str) -> TrainingJob:
    return get_by_uuid_or_404(TrainingJob.objects.all(), job_id)


def _metrics(job, limit: int) -> list[dict]:
    """The job's last `limit` metric rows, oldest first (selectors.run_metrics)."""
    return MetricSerializer(run_metrics(job, limit), many=True).data


class JobListView(APIView):
    resource = "training"

    @extend_schema(tags=["training"], request=JobCreateSchema, responses={201: JobSerializer})
    def post(self, request):
        body, config = validated_job_request(request.data)
        job = job_create(
            user=request.user,
            job_name=body["job_name"],
            config=config,
            config_name=body["config_name"],
            auto_activate=body["auto_activate"],
        )
        return Response(
            JobSerializer(job, context={"request": request}).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        tags=["training"],
        parameters=[*filterset_parameters(TrainingJobFilterSet), *JOBS_PAGINATOR.parameters()],
        responses={200: JOBS_PAGINATOR.response_serializer("TrainingJobList", JobSerializer)},
    )
    def get(self, request):
        """Seed 000: `{"jobs": [...], "total": n}`, newest first, `limit`/`offset` pages.
        TrainingJobFilterSet → selectors.job_list → JOBS_PAGINATOR."""
        params = request.query_params
        queryset = TrainingJobFilterSet(params, queryset=job_list()).validated_queryset()
        rows, block = JOBS_PAGINATOR.paginate(queryset, params)
        return Response(
            JOBS_PAGINATOR.body(
                JobSerializer(rows, many=True, context={"request": request}).data, block
            )
        )


class JobDetailResponseSerializer(serializers.Serializer):
    job = JobSerializer()
    recent_metrics = MetricSerializer(many=True, help_text="The last 10 metric rows, oldest first")
    websocket_url = serializers.CharField(help_text="/ws/training/{job_id} on this host")


class JobMetricsResponseSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    metrics = MetricSerializer(many=True)


class JobDetailView(APIView):
    resource = "training"

    @extend_schema(tags=["training"], responses={200: JobDetailResponseSerializer})
    def get(self, request, job_id):
        job = _job(job_id)
        scheme = "wss" if request.is_secure() else "ws"
        return Response(
            {
                "job": JobSerializer(job, context={"request": request}).data,
                "recent_metrics": _metrics(job, 10),
                "websocket_url": f"{scheme}://{request.get_host()}/ws/training/{job.pk}",
            }
        )

    @extend_schema(tags=["training"], responses={204: None})
    def delete(self, request, job_id):
        job_delete(user=request.user, job=_job(job_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobCancelView(APIView):
    resource = "training"

    @extend_schema(tags=["training"], request=None, responses={200: JobSerializer})
    def post(self, request, job_id):
        job = job_cancel(user=request.user, job=_job(job_id))
        return Response(JobSerializer(job, context={"request": request}).data)


class JobMetricsView(APIView):
    resource = "training"

    @extend_schema(
        tags=["training"],
        parameters=[METRICS_LIMIT.openapi()],
        responses={200: JobMetricsResponseSerializer},
    )
    def get(self, request, job_id):
        job = _job(job_id)
        limit = METRICS_LIMIT.parse(request.query_params)
        return Response({"job_id": str(job.pk), "metrics": _metrics(job, limit)})
