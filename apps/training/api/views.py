from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.lookups import get_by_uuid_or_404
from apps.core.pagination import LimitOffsetPaginator
from apps.core.schema import filterset_parameters
from apps.training.api.serializers import DatasetSerializer, GenerateSerializer
from apps.training.filters import SyntheticDatasetFilterSet
from apps.training.models import SyntheticDataset
from apps.training.selectors import dataset_list, fixed_receivers, recordings_clip_count
from apps.training.services import dataset_delete, dataset_request

DATASETS_PAGINATOR = LimitOffsetPaginator(items_key="datasets")
RECORDINGS_ONLY = (
    "only_approved",
    "labels",
    "recording_ids",
    "max_segments_per_clip",
    "synthetic_samples",
)


def _dataset(dataset_id: str) -> SyntheticDataset:
    return get_by_uuid_or_404(SyntheticDataset.objects.all(), dataset_id)


class GenerateView(APIView):
    """Queue a synthetic dataset (operators, admins): 202 with the pending dataset."""

    resource = "training"

    @extend_schema(
        tags=["training"], request=GenerateSerializer, responses={202: DatasetSerializer}
    )
    def post(self, request):
        body = GenerateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = dict(body.validated_data)
        name, description, dataset_type = (
            data.pop("name"),
            data.pop("description"),
            data.pop("dataset_type"),
        )
        if dataset_type == "localization" and not data["use_random_receivers"]:
            data["fixed_receivers"] = fixed_receivers(user=request.user, parameters=data)
        data["constellation_id"] = (
            str(data["constellation_id"]) if data["constellation_id"] else None
        )
        data["recording_ids"] = [str(pk) for pk in data["recording_ids"]]
        if dataset_type == SyntheticDataset.Type.RECORDINGS:
            data["num_samples"] = recordings_clip_count(data) + data["synthetic_samples"]
        else:  # the recordings-only parameters
            for key in RECORDINGS_ONLY:
                data.pop(key)
        dataset = dataset_request(
            user=request.user,
            name=name,
            description=description,
            dataset_type=dataset_type,
            parameters=data,
        )
        return Response(DatasetSerializer(dataset).data, status=status.HTTP_202_ACCEPTED)


class DatasetListView(APIView):
    resource = "training"

    @extend_schema(
        tags=["training"],
        parameters=[
            *filterset_parameters(SyntheticDatasetFilterSet),
            *DATASETS_PAGINATOR.parameters(),
        ],
        responses={200: DATASETS_PAGINATOR.response_serializer("DatasetList", DatasetSerializer)},
    )
    def get(self, request):
        """Seed 000's shape: `{"datasets": [...], "total": n}`, newest first, `limit`/`offset`
        pages. SyntheticDatasetFilterSet → selectors.dataset_list → DATASETS_PAGINATOR."""
        params = request.query_params
        queryset = SyntheticDatasetFilterSet(params, queryset=dataset_list()).validated_queryset()
        rows, block = DATASETS_PAGINATOR.paginate(queryset, params)
        return Response(DATASETS_PAGINATOR.body(DatasetSerializer(rows, many=True).data, block))


class DatasetDetailView(APIView):
    resource = "training"

    @extend_schema(tags=["training"], responses={200: DatasetSerializer})
    def get(self, request, dataset_id):
        return Response(DatasetSerializer(_dataset(dataset_id)).data)

    @extend_schema(tags=["training"], responses={204: None})
    def delete(self, request, dataset_id):
        dataset_delete(user=request.user, dataset=_dataset(dataset_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
