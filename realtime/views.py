"""POST /ws/ticket."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import AuthorizationError
from realtime.serializers import TicketOutput
from realtime.tickets import ticket_issue


class TicketView(APIView):
    @extend_schema(
        tags=["realtime"],
        operation_id="ws_ticket_create",
        summary="Get a ticket to open the WebSocket",
        description=(
            "A single-use ticket for `GET /api/v1/app/ws?ticket=<ticket>` (WebSocket), valid 60 "
            "seconds, so a browser never puts its long-lived token in a URL. Native and mobile "
            "apps may instead send `Authorization: Bearer <token>` on the handshake. Not "
            "available to an impersonation session (403)."
        ),
        request=None,
        responses={201: TicketOutput},
    )
    def post(self, request: Request) -> Response:
        if getattr(request._request, "impersonation", None) is not None:
            raise AuthorizationError("An impersonation session cannot open a WebSocket")
        ticket = ticket_issue(user_id=str(request.user.pk))
        body = {"ticket": ticket, "expires_in": settings.WS_TICKET_SECONDS}
        return Response(TicketOutput(body).data, status=201)
