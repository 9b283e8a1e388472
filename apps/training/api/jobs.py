"""Seed 000 /training/jobs endpoints."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.exceptions import ValidationFailed
from apps.core.lookups import choice_param, get_by_uuid_or_404
from apps.core.pagination import IntParam, LimitOffsetPaginator
from apps.training.config import TrainingConfigSerializer
from apps.training.models import TrainingJob, TrainingMetric
from apps.training.services import job_cancel, job_create, job_delete

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
]
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
    class Meta:
        model = TrainingJob
        fields = JOB_FIELDS


class MetricSerializer(serializers.ModelSerializer):
    class Meta:
        model = TrainingMetric
        fields = METRIC_FIELDS


class JobCreateSerializer(serializers.Serializer):
    job_name = serializers.CharField(max_length=255)
    config = serializers.DictField(required=False, default=dict)


JOBS_PAGINATOR = LimitOffsetPaginator(items_key="jobs")
METRICS_LIMIT = IntParam("limit", 1, 10_000, 100, "The last `limit` metric rows")


def _job(job_id: str) -> TrainingJob:
    return get_by_uuid_or_404(TrainingJob.objects.all(), job_id)


def _metrics(job, limit: int) -> list[dict]:
    rows = TrainingMetric.objects.filter(training_job=job).order_by("-epoch", "-timestamp")
    return list(reversed(MetricSerializer(rows[:limit], many=True).data))


class JobListView(APIView):
    resource = "training"

    @extend_schema(tags=["training"], request=JobCreateSerializer, responses={201: JobSerializer})
    def post(self, request):
        body = JobCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        config = TrainingConfigSerializer(data=body.validated_data["config"])
        if not config.is_valid():
            from apps.core.exceptions import validation_details

            details = validation_details({"config": config.errors})
            raise ValidationFailed(
                f"Invalid value for '{details['field']}': {details['constraint']}", details
            )
        values = dict(config.validated_data)
        values["dataset_id"] = str(values["dataset_id"]) if values["dataset_id"] else None
        job = job_create(user=request.user, job_name=body.validated_data["job_name"], config=values)
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        tags=["training"],
        parameters=[
            OpenApiParameter("status", str, enum=TrainingJob.Status.values),
            *JOBS_PAGINATOR.parameters(),
        ],
        responses={200: JOBS_PAGINATOR.response_serializer("TrainingJobList", JobSerializer)},
    )
    def get(self, request):
        queryset = TrainingJob.objects.order_by("-created_at", "id")
        wanted = choice_param(request.query_params, "status", TrainingJob.Status.values)
        if wanted:
            queryset = queryset.filter(status=wanted)
        window = JOBS_PAGINATOR.window(request.query_params)
        page = queryset[window.offset : window.offset + window.limit]
        return Response(
            JOBS_PAGINATOR.body(
                JobSerializer(page, many=True).data, JOBS_PAGINATOR.block(window, queryset.count())
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
                "job": JobSerializer(job).data,
                "recent_metrics": _metrics(job, 10),
                "websocket_url": f"{scheme}://{request.get_host()}/ws/training/{job.pk}",
            }
        )

    @extend_schema(tags=["training"], responses={204: None})
    def delete(self, request, job_id):
        job_delete(job=_job(job_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


class JobCancelView(APIView):
    resource = "training"

    @extend_schema(tags=["training"], request=None, responses={200: JobSerializer})
    def post(self, request, job_id):
        return Response(JobSerializer(job_cancel(job=_job(job_id))).data)


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
