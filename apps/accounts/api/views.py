from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.api.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeySerializer,
    DirectoryEntrySerializer,
    LoginSerializer,
    RefreshSerializer,
    TokenSerializer,
    UserSummarySerializer,
)
from apps.accounts.api_keys import ApiKeyAuth
from apps.accounts.filters import UserDirectoryFilterSet
from apps.accounts.login_limits import refused_attempt
from apps.accounts.roles import permissions_of, role_of
from apps.accounts.selectors import api_keys_visible_to, user_directory
from apps.accounts.services import api_key_create, api_key_revoke
from apps.accounts.tokens import InvalidCredentials, tokens_issue, tokens_refresh
from apps.core.exceptions import PermissionDenied
from apps.core.pagination import SkipLimitPaginator
from apps.core.schema import filterset_parameters
from apps.core.throttling import LoginAddressThrottle


class LoginView(APIView):
    """Login attempts are limited where every login passes (apps.accounts.login_limits)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(tags=["auth"], request=LoginSerializer, responses={200: TokenSerializer})
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=serializer.validated_data["username"],
            password=serializer.validated_data["password"],
        )
        refused = refused_attempt(request._request)
        if refused is not None:
            raise Throttled(wait=refused.retry_after)
        if user is None or role_of(user) is None:
            raise InvalidCredentials()
        return Response(tokens_issue(user=user))


class RefreshView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [LoginAddressThrottle]

    @extend_schema(tags=["auth"], request=RefreshSerializer, responses={200: TokenSerializer})
    def post(self, request):
        serializer = RefreshSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(tokens_refresh(refresh_token=serializer.validated_data["refresh_token"]))


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["auth"], responses={200: UserSummarySerializer})
    def get(self, request):
        user = request.user
        summary = {
            "id": user.pk,
            "username": user.username,
            "email": user.email,
            "display_name": user.get_display_name(),
            "role": role_of(user),
            "permissions": permissions_of(user),
        }
        return Response(UserSummarySerializer(summary).data)


DIRECTORY_PAGINATOR = SkipLimitPaginator(default_limit=20)


class UserDirectoryView(APIView):
    """Find people to share with: id, username and display name (no e-mail) of active users."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        parameters=[
            *filterset_parameters(UserDirectoryFilterSet),
            *DIRECTORY_PAGINATOR.parameters(),
        ],
        responses={
            200: DIRECTORY_PAGINATOR.response_serializer("UserDirectory", DirectoryEntrySerializer)
        },
    )
    def get(self, request):
        params = request.query_params
        users = UserDirectoryFilterSet(params, queryset=user_directory()).validated_queryset()
        rows, block = DIRECTORY_PAGINATOR.paginate(users, params)
        return Response(
            DIRECTORY_PAGINATOR.body(DirectoryEntrySerializer(rows, many=True).data, block)
        )


API_KEY_PAGINATOR = SkipLimitPaginator(default_limit=50)


class ApiKeyListView(APIView):
    """Your API keys (admins: everyone's); POST mints one, shown once."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        tags=["auth"],
        parameters=API_KEY_PAGINATOR.parameters(),
        responses={200: API_KEY_PAGINATOR.response_serializer("ApiKeyList", ApiKeySerializer)},
    )
    def get(self, request):
        rows, block = API_KEY_PAGINATOR.paginate(api_keys_visible_to(request.user),
                                                 request.query_params)  # fmt: skip
        return Response(API_KEY_PAGINATOR.body(ApiKeySerializer(rows, many=True).data, block))

    @extend_schema(
        tags=["auth"], request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer}
    )
    def post(self, request):
        if isinstance(request.auth, ApiKeyAuth):
            raise PermissionDenied(
                "API keys cannot mint API keys: log in with your password to create one."
            )
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, raw = api_key_create(user=request.user, **serializer.validated_data)
        body = {**ApiKeySerializer(key).data, "key": raw}
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(tags=["auth"], responses={204: None})
    def delete(self, request, key_id):
        api_key_revoke(key_id=key_id, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
