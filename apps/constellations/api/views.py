"""Constellation endpoints. Every object access goes through access.constellation_for."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.roles import has_permission
from apps.constellations import services
from apps.constellations.access import constellation_for, permission_level
from apps.constellations.api.serializers import (
    CalibrateRequestSerializer,
    CalibrateResponseSerializer,
    ConstellationDetailSerializer,
    ConstellationListItemSerializer,
    ConstellationSerializer,
    ConstellationWriteSerializer,
    LocalizationSerializer,
    LocalizationWithPosteriorSerializer,
    LocalizeRequestSerializer,
    MemberAddSerializer,
    MemberSerializer,
    ReferenceTransmitterSerializer,
    ShareCreateSerializer,
    ShareListSerializer,
    SharePermissionSerializer,
    ShareSerializer,
    ShareWithUserSerializer,
)
from apps.constellations.filters import LocalizationFilterSet
from apps.constellations.models import ReferenceTransmitter
from apps.constellations.representation import localization_payload
from apps.constellations.selectors import (
    constellation_count,
    constellation_members,
    constellation_page,
    constellation_shares,
    localization_get,
    localization_list,
    localization_posterior,
    reference_transmitter_list,
)
from apps.core.exceptions import PermissionDenied
from apps.core.lookups import choice_param, get_by_uuid_or_404
from apps.core.pagination import PageNumberPaginator, SkipLimitPaginator
from apps.core.schema import filterset_parameters


class _ObjectView(APIView):
    """Any role passes the role gate; the object permission check decides."""

    resource = "constellations"
    read_permission = write_permission = "constellations:read"


def _body(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


LIST_PAGINATOR = SkipLimitPaginator()
LOCALIZATION_PAGINATOR = PageNumberPaginator()


class ConstellationListView(APIView):
    """What the caller may see, newest first, in seed 004's skip/limit pages.

    The selector keeps the measured fast path: the page's ids from the grant
    lookup, then only those rows annotated; the total counted in the grant tables.
    """

    resource = "constellations"

    @extend_schema(
        tags=["constellations"],
        parameters=LIST_PAGINATOR.parameters(),
        responses={
            200: LIST_PAGINATOR.response_serializer(
                "ConstellationList", ConstellationListItemSerializer
            )
        },
    )
    def get(self, request):
        window = LIST_PAGINATOR.window(request.query_params)
        page = constellation_page(user=request.user, skip=window.offset, limit=window.limit)
        total = constellation_count(user=request.user)
        return Response(
            LIST_PAGINATOR.body(
                ConstellationListItemSerializer(page, many=True).data,
                LIST_PAGINATOR.block(window, total),
            )
        )

    @extend_schema(
        tags=["constellations"],
        request=ConstellationWriteSerializer,
        responses={201: ConstellationSerializer},
    )
    def post(self, request):
        data = _body(ConstellationWriteSerializer, request)
        constellation = services.constellation_create(
            owner=request.user, name=data.get("name"), description=data.get("description")
        )
        return Response(ConstellationSerializer(constellation).data, status=status.HTTP_201_CREATED)


class ConstellationDetailView(_ObjectView):
    @extend_schema(tags=["constellations"], responses={200: ConstellationDetailSerializer})
    def get(self, request, constellation_id):
        constellation = constellation_for(request.user, constellation_id, "view")
        constellation.permission = permission_level(request.user, constellation)
        constellation.member_list = list(constellation_members(constellation=constellation))
        return Response(ConstellationDetailSerializer(constellation).data)

    @extend_schema(
        tags=["constellations"],
        request=ConstellationWriteSerializer,
        responses={200: ConstellationSerializer},
    )
    def put(self, request, constellation_id):
        constellation = constellation_for(request.user, constellation_id, "change")
        data = _body(ConstellationWriteSerializer, request)
        constellation = services.constellation_update(constellation=constellation, **data)
        return Response(ConstellationSerializer(constellation).data)

    @extend_schema(tags=["constellations"], responses={204: None})
    def delete(self, request, constellation_id):
        constellation = constellation_for(request.user, constellation_id, "delete")
        services.constellation_delete(constellation=constellation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MemberListView(_ObjectView):
    @extend_schema(
        tags=["constellations"], request=MemberAddSerializer, responses={201: MemberSerializer}
    )
    def post(self, request, constellation_id):
        constellation = constellation_for(request.user, constellation_id, "change")
        data = _body(MemberAddSerializer, request)
        member = services.member_add(
            constellation=constellation,
            station_id=data["websdr_station_id"],
            added_by=request.user,
        )
        return Response(MemberSerializer(member).data, status=status.HTTP_201_CREATED)


class MemberDetailView(_ObjectView):
    @extend_schema(tags=["constellations"], responses={204: None})
    def delete(self, request, constellation_id, station_id):
        constellation = constellation_for(request.user, constellation_id, "change")
        services.member_remove(constellation=constellation, station_id=station_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ShareListView(_ObjectView):
    @extend_schema(tags=["constellations"], responses={200: ShareListSerializer})
    def get(self, request, constellation_id):
        """Seed 004's shape: every share of the constellation (no pages) and their count."""
        constellation = constellation_for(request.user, constellation_id, "share")
        shares = list(constellation_shares(constellation=constellation))
        return Response(
            {"data": ShareWithUserSerializer(shares, many=True).data, "total": len(shares)}
        )

    @extend_schema(
        tags=["constellations"], request=ShareCreateSerializer, responses={201: ShareSerializer}
    )
    def post(self, request, constellation_id):
        constellation = constellation_for(request.user, constellation_id, "share")
        data = _body(ShareCreateSerializer, request)
        share = services.share_create(
            constellation=constellation,
            user_id=data["user_id"],
            permission=data["permission"],
            shared_by=request.user,
        )
        body = ShareSerializer(share).data
        body.pop("updated_at")  # seed 004: the create response has no updated_at
        return Response(body, status=status.HTTP_201_CREATED)


class ShareDetailView(_ObjectView):
    @extend_schema(
        tags=["constellations"], request=SharePermissionSerializer, responses={200: ShareSerializer}
    )
    def put(self, request, constellation_id, user_id):
        constellation = constellation_for(request.user, constellation_id, "share")
        data = _body(SharePermissionSerializer, request)
        share = services.share_update(
            constellation=constellation, user_id=user_id, permission=data["permission"]
        )
        return Response(ShareSerializer(share).data)

    @extend_schema(tags=["constellations"], responses={204: None})
    def delete(self, request, constellation_id, user_id):
        constellation = constellation_for(request.user, constellation_id, "share")
        services.share_revoke(constellation=constellation, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- localizations -------------------------------------------------------------------------


class LocalizeView(_ObjectView):
    """POST: locate a transmitter from a constellation's measurements (201, stored).

    Read access on the constellation (else 404) and the operator or admin role (else 403)."""

    @extend_schema(
        tags=["localizations"],
        request=LocalizeRequestSerializer,
        responses={201: LocalizationSerializer},
    )
    def post(self, request, constellation_id):
        constellation = constellation_for(request.user, constellation_id, "view")
        if not has_permission(request.user, "constellations:write"):
            raise PermissionDenied("Your role may read this constellation but not localize.")
        localization = services.localization_request(
            constellation=constellation, user=request.user, data=request.data
        )
        return Response(localization_payload(localization), status=status.HTTP_201_CREATED)


class LocalizationListView(APIView):
    resource = "constellations"

    """Localizations of the constellations the caller can read: LocalizationFilterSet →
    selectors.localization_list → page (seed 004 page-number pagination)."""

    @extend_schema(
        tags=["localizations"],
        parameters=[
            *filterset_parameters(LocalizationFilterSet),
            *LOCALIZATION_PAGINATOR.parameters(),
        ],
        responses={
            200: LOCALIZATION_PAGINATOR.response_serializer(
                "LocalizationList", LocalizationSerializer
            )
        },
    )
    def get(self, request):
        params = request.query_params
        queryset = LocalizationFilterSet(
            params, queryset=localization_list(user=request.user)
        ).validated_queryset()
        rows, block = LOCALIZATION_PAGINATOR.paginate(queryset, params)
        return Response(
            LOCALIZATION_PAGINATOR.body([localization_payload(item) for item in rows], block)
        )


class LocalizationDetailView(APIView):
    resource = "constellations"

    @extend_schema(
        tags=["localizations"],
        parameters=[
            OpenApiParameter(
                "include",
                str,
                enum=["posterior"],
                description="posterior: add the gridded posterior",
            )
        ],
        responses={200: LocalizationWithPosteriorSerializer},
    )
    def get(self, request, localization_id):
        include = choice_param(request.query_params, "include", ["posterior"])
        localization = localization_get(user=request.user, localization_id=localization_id)
        body = localization_payload(localization)
        if include == "posterior":
            body["posterior"] = localization_posterior(localization=localization)
        return Response(body)


# --- reference transmitters ------------------------------------------------------------------


class ReferenceTransmitterListSerializer(serializers.Serializer):
    """`GET /reference-transmitters`: every reference transmitter and their count."""

    data = ReferenceTransmitterSerializer(many=True)
    total = serializers.IntegerField()


class ReferenceTransmitterListView(APIView):
    """Every role with stations:read reads; admins (stations:write) maintain the list."""

    resource = "stations"

    @extend_schema(tags=["localizations"], responses={200: ReferenceTransmitterListSerializer})
    def get(self, request):
        references = reference_transmitter_list()
        return Response(
            {"data": ReferenceTransmitterSerializer(references, many=True).data,
             "total": len(references)}
        )  # fmt: skip

    @extend_schema(
        tags=["localizations"],
        request=ReferenceTransmitterSerializer,
        responses={201: ReferenceTransmitterSerializer},
    )
    def post(self, request):
        data = _body(ReferenceTransmitterSerializer, request)
        reference = services.reference_transmitter_create(created_by=request.user, **data)
        return Response(
            ReferenceTransmitterSerializer(reference).data, status=status.HTTP_201_CREATED
        )


class ReferenceTransmitterDetailView(APIView):
    resource = "stations"

    @extend_schema(tags=["localizations"], responses={200: ReferenceTransmitterSerializer})
    def get(self, request, reference_id):
        reference = get_by_uuid_or_404(ReferenceTransmitter.objects.all(), reference_id)
        return Response(ReferenceTransmitterSerializer(reference).data)

    def _update(self, request, reference_id, partial: bool):
        reference = get_by_uuid_or_404(ReferenceTransmitter.objects.all(), reference_id)
        serializer = ReferenceTransmitterSerializer(reference, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        reference = services.reference_transmitter_update(
            reference=reference, **serializer.validated_data
        )
        return Response(ReferenceTransmitterSerializer(reference).data)

    @extend_schema(
        tags=["localizations"],
        request=ReferenceTransmitterSerializer,
        responses={200: ReferenceTransmitterSerializer},
    )
    def put(self, request, reference_id):
        return self._update(request, reference_id, partial=False)

    @extend_schema(
        tags=["localizations"],
        request=ReferenceTransmitterSerializer,
        responses={200: ReferenceTransmitterSerializer},
    )
    def patch(self, request, reference_id):
        return self._update(request, reference_id, partial=True)

    @extend_schema(tags=["localizations"], responses={204: None})
    def delete(self, request, reference_id):
        reference = get_by_uuid_or_404(ReferenceTransmitter.objects.all(), reference_id)
        services.reference_transmitter_delete(reference=reference)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CalibrateView(APIView):
    """POST (admins): station calibration offsets estimated from reference transmitters."""

    resource = "stations"

    @extend_schema(
        tags=["localizations"],
        request=CalibrateRequestSerializer,
        responses={200: CalibrateResponseSerializer},
    )
    def post(self, request):
        data = _body(CalibrateRequestSerializer, request)
        return Response(services.calibration_estimate(**data))
