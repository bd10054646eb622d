"""/api/v1/app/users/me."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import authenticated_user
from accounts.serializers import UserOutput, UserUpdateInput
from accounts.services import user_deactivate, user_update_profile
from config.api import validated


class UserMeView(APIView):
    """The signed-in user's own profile."""

    @extend_schema(tags=["users"], responses=UserOutput, summary="Get my profile")
    def get(self, request: Request) -> Response:
        return Response(UserOutput(authenticated_user(request)).data)

    @extend_schema(
        tags=["users"],
        request=UserUpdateInput,
        responses=UserOutput,
        summary="Update my profile",
    )
    def patch(self, request: Request) -> Response:
        data = validated(UserUpdateInput, request.data)
        user = user_update_profile(user=authenticated_user(request), **data)
        return Response(UserOutput(user).data)

    @extend_schema(
        tags=["users"],
        responses={204: None},
        summary="Delete my account",
        description="Deactivates the account at once and erases personal data in the background.",
    )
    def delete(self, request: Request) -> Response:
        user_deactivate(user=authenticated_user(request))
        return Response(status=204)
