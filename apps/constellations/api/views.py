"""Constellation endpoints. Every object access goes through access.constellation_for."""

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.constellations import services
from apps.constellations.access import constellation_for, permission_level
from apps.constellations.api.serializers import (
    ConstellationDetailSerializer,
    ConstellationListItemSerializer,
    ConstellationSerializer,
    ConstellationWriteSerializer,
    MemberAddSerializer,
    MemberSerializer,
    ShareCreateSerializer,
    ShareListSerializer,
    SharePermissionSerializer,
    ShareSerializer,
    ShareWithUserSerializer,
)
from apps.constellations.selectors import (
    constellation_count,
    constellation_members,
    constellation_page,
    constellation_shares,
)
from apps.core.pagination import SkipLimitPaginator


class _ObjectView(APIView):
    """Any role passes the role gate; the object permission check decides."""

    resource = "constellations"
    read_permission = write_permission = "constellations:read"


def _body(serializer_class, request):
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


LIST_PAGINATOR = SkipLimitPaginator()


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
