"""/api/v1/app/users/me and its data export."""

from __future__ import annotations

from django.http import HttpResponseRedirect
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import authenticated_user
from accounts.exports import data_export_download_url, data_export_request
from accounts.serializers import DataExportOutput, UserOutput, UserUpdateInput
from accounts.services import user_deactivate, user_update_profile
from config.api import PublicAPIView, validated
from config.openapi import error_responses


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


class UserExportView(APIView):
    """A copy of the signed-in user's data, emailed as a download link."""

    @extend_schema(
        tags=["users"],
        request=None,
        responses={
            202: DataExportOutput,
            **error_responses(
                {
                    429: "RATE_LIMIT_EXCEEDED: an export was requested less than "
                    "EXPORT_MIN_INTERVAL_SECONDS (10 minutes) ago; `details.retry_after` and the "
                    "Retry-After header say when to ask again."
                }
            ),
        },
        summary="Export my data",
        description=(
            "Queues a JSON export of the user's data (profile, projects, files' metadata, "
            "billing status, usage summary, emails). When it is ready it is stored as one of "
            "the user's files (content type application/json) and a download link valid "
            "EXPORT_LINK_DAYS (7 days) is emailed to the user (and sent as `export.ready` on the "
            "WebSocket); a new link can also be asked for through "
            "GET /files/{file_id}/download-url. Only the newest export is kept. One export per "
            "10 minutes."
        ),
    )
    def post(self, request: Request) -> Response:
        export = data_export_request(
            user=authenticated_user(request), base_url=request.build_absolute_uri("/")
        )
        return Response(DataExportOutput(export).data, status=202)


class DataExportDownloadView(PublicAPIView):
    """The link of a data export's email: a redirect to a fresh download URL at each click."""

    @extend_schema(
        tags=["users"],
        parameters=[
            OpenApiParameter(
                "token", str, required=True, description="Signed token of the export's link."
            )
        ],
        responses={
            302: OpenApiResponse(
                description="`Location` is a download URL of the export valid "
                "FILE_DOWNLOAD_URL_EXPIRES (5 minutes), served as an attachment."
            ),
            **error_responses(
                {
                    404: "NOT_FOUND: `details.reason` is `invalid` (not a link of ours), "
                    "`expired` (older than EXPORT_LINK_DAYS) or `gone` (the export was replaced "
                    "or deleted, or the account deactivated)."
                }
            ),
        },
        summary="Download a data export",
        description=(
            "The link emailed (and sent as `export.ready`) when a data export is ready, valid "
            "EXPORT_LINK_DAYS (7 days). Needs no token: the link is signed. Each request "
            "answers 302 to a freshly made short-lived download URL."
        ),
    )
    def get(self, request: Request) -> HttpResponseRedirect:
        url = data_export_download_url(token=request.query_params.get("token", ""))
        response = HttpResponseRedirect(request.build_absolute_uri(url))
        response["Cache-Control"] = "no-store"
        return response
