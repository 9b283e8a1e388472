"""/api/v1/recordings: SigMF recordings, their analysis and their clips (annotations).

Viewers read; operators and admins upload, analyze, label, approve and delete
(`recordings:read` / `recordings:write`).
"""

import json
import re

from django.http import HttpResponse, StreamingHttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.lookups import choice_param, get_by_uuid_or_404
from apps.core.pagination import PageNumberPaginator
from apps.core.parsers import FiniteJSONParser
from apps.core.schema import filterset_parameters
from apps.core.text import normalize_text
from apps.recordings import export, selectors, services
from apps.recordings.api.serializers import (
    RecordingAnalyzeRequestSerializer,
    RecordingClipPatchSerializer,
    RecordingClipSerializer,
    RecordingClipWriteSerializer,
    RecordingSerializer,
    RecordingUploadSerializer,
)
from apps.recordings.filters import RecordingFilterSet
from apps.recordings.models import Recording, RecordingClip
from apps.recordings.sigmf_files import HashingUploadHandler

RECORDINGS_PAGINATOR = PageNumberPaginator(default_limit=50)
CLIPS_PAGINATOR = PageNumberPaginator(default_limit=100)
DOWNLOAD_PARTS = ("archive", "meta", "data")


def _recording(recording_id) -> Recording:
    return get_by_uuid_or_404(selectors.recording_list(), recording_id)


class RecordingListView(APIView):
    """GET: recordings (filters: station, time, frequency). POST: upload a SigMF recording
    (multipart: `meta` + `data`, or `archive`; streamed to disk, never read whole)."""

    resource = "recordings"
    parser_classes = [MultiPartParser, FiniteJSONParser]

    def initialize_request(self, request, *args, **kwargs):
        # Every uploaded file goes to a temporary file, hashed as it streams.
        if request.method == "POST":
            request.upload_handlers = [HashingUploadHandler(request)]
        return super().initialize_request(request, *args, **kwargs)

    @extend_schema(
        tags=["recordings"],
        parameters=[*filterset_parameters(RecordingFilterSet), *RECORDINGS_PAGINATOR.parameters()],
        responses={
            200: RECORDINGS_PAGINATOR.response_serializer("RecordingList", RecordingSerializer)
        },
    )
    def get(self, request):
        params = request.query_params
        recordings = RecordingFilterSet(
            params, queryset=selectors.recording_list()
        ).validated_queryset()
        rows, block = RECORDINGS_PAGINATOR.paginate(recordings, params)
        return Response(RECORDINGS_PAGINATOR.body(RecordingSerializer(rows, many=True).data, block))

    @extend_schema(
        tags=["recordings"],
        request={"multipart/form-data": RecordingUploadSerializer},
        responses={201: RecordingSerializer},
    )
    def post(self, request):
        body = RecordingUploadSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        recording = services.recording_create(
            user=request.user,
            meta_file=data.get("meta"),
            data_file=data.get("data"),
            archive_file=data.get("archive"),
            websdr_station_id=data.get("websdr_station_id"),
            name=data.get("name", ""),
            description=data.get("description", ""),
        )
        return Response(
            RecordingSerializer(_recording(recording.pk)).data, status=status.HTTP_201_CREATED
        )


class RecordingDetailView(APIView):
    resource = "recordings"

    @extend_schema(tags=["recordings"], responses={200: RecordingSerializer})
    def get(self, request, recording_id):
        return Response(RecordingSerializer(_recording(recording_id)).data)

    @extend_schema(tags=["recordings"], responses={204: None})
    def delete(self, request, recording_id):
        services.recording_delete(recording=_recording(recording_id), user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _file_name(recording: Recording) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", recording.name).strip("._") or str(recording.pk)


class RecordingDownloadView(APIView):
    """The recording as SigMF: a `.sigmf` archive (default), or `?part=meta` / `?part=data`.
    The metadata carries the clips as annotations, with their labels and approval now."""

    resource = "recordings"

    @extend_schema(
        tags=["recordings"],
        parameters=[OpenApiParameter("part", str, enum=list(DOWNLOAD_PARTS))],
        responses={(200, "application/octet-stream"): bytes},
    )
    def get(self, request, recording_id):
        recording = _recording(recording_id)
        part = choice_param(request.query_params, "part", DOWNLOAD_PARTS) or "archive"
        base = _file_name(recording)
        if part == "meta":
            response = HttpResponse(
                json.dumps(export.recording_meta(recording), indent=2),
                content_type="application/json",
            )
            response["Content-Disposition"] = f'attachment; filename="{base}.sigmf-meta"'
            return response
        if part == "data":
            response = StreamingHttpResponse(
                export.data_chunks(recording), content_type="application/octet-stream"
            )
            response["Content-Length"] = str(recording.data_bytes)
            response["Content-Disposition"] = f'attachment; filename="{base}.sigmf-data"'
            return response
        response = StreamingHttpResponse(
            export.archive_chunks(recording, base), content_type="application/x-tar"
        )
        response["Content-Disposition"] = f'attachment; filename="{base}.sigmf"'
        return response


class RecordingAnalyzeView(APIView):
    """Run the DSP over the whole recording in the background (202); its carriers are
    ingested as detections. Re-analyzing with the same options stores nothing twice."""

    resource = "recordings"

    @extend_schema(
        tags=["recordings"],
        request=RecordingAnalyzeRequestSerializer,
        responses={202: RecordingSerializer},
    )
    def post(self, request, recording_id):
        recording = _recording(recording_id)
        body = RecordingAnalyzeRequestSerializer(data=request.data if request.data else {})
        body.is_valid(raise_exception=True)
        services.recording_analyze_request(recording=recording, options=dict(body.validated_data))
        return Response(
            RecordingSerializer(_recording(recording.pk)).data, status=status.HTTP_202_ACCEPTED
        )


def _clip(recording_id, clip_id) -> RecordingClip:
    recording = _recording(recording_id)
    return get_by_uuid_or_404(RecordingClip.objects.filter(recording=recording), clip_id)


class ClipListView(APIView):
    """A recording's clips (SigMF annotations): list, or add one (operators, admins)."""

    resource = "recordings"

    @extend_schema(
        tags=["recordings"],
        parameters=[
            OpenApiParameter("approved", bool),
            OpenApiParameter("label", str),
            *CLIPS_PAGINATOR.parameters(),
        ],
        responses={
            200: CLIPS_PAGINATOR.response_serializer("RecordingClipList", RecordingClipSerializer)
        },
    )
    def get(self, request, recording_id):
        params = request.query_params
        clips = selectors.clip_list(recording=_recording(recording_id))
        approved = choice_param(params, "approved", ("true", "false"))
        if approved:
            clips = clips.filter(approved=approved == "true")
        if params.get("label"):
            clips = clips.filter(label=normalize_text(params["label"])[:64])
        rows, block = CLIPS_PAGINATOR.paginate(clips, params)
        return Response(CLIPS_PAGINATOR.body(RecordingClipSerializer(rows, many=True).data, block))

    @extend_schema(
        tags=["recordings"],
        request=RecordingClipWriteSerializer,
        responses={201: RecordingClipSerializer},
    )
    def post(self, request, recording_id):
        recording = _recording(recording_id)
        body = RecordingClipWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        clip = services.clip_create(
            user=request.user, recording=recording, values=dict(body.validated_data)
        )
        return Response(RecordingClipSerializer(clip).data, status=status.HTTP_201_CREATED)


class ClipDetailView(APIView):
    """A clip: read; PATCH (RFC 7396 merge patch) to relabel, move or approve; delete."""

    resource = "recordings"

    @extend_schema(tags=["recordings"], responses={200: RecordingClipSerializer})
    def get(self, request, recording_id, clip_id):
        return Response(RecordingClipSerializer(_clip(recording_id, clip_id)).data)

    @extend_schema(
        tags=["recordings"],
        request=RecordingClipPatchSerializer,
        responses={200: RecordingClipSerializer},
    )
    def patch(self, request, recording_id, clip_id):
        clip = _clip(recording_id, clip_id)
        body = RecordingClipPatchSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        changes = {k: v for k, v in body.validated_data.items() if k in request.data}
        clip = services.clip_update(user=request.user, clip=clip, changes=changes)
        return Response(RecordingClipSerializer(clip).data)

    @extend_schema(tags=["recordings"], responses={204: None})
    def delete(self, request, recording_id, clip_id):
        services.clip_delete(clip=_clip(recording_id, clip_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
