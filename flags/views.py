"""GET /flags."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import authenticated_user
from flags.selectors import flags_for_user
from flags.serializers import FlagsOutput


class FlagListView(APIView):
    @extend_schema(
        tags=["flags"],
        operation_id="flags_list",
        summary="Get my feature flags",
        description=(
            "Every active feature flag evaluated for me, so a client gates its features with one "
            "call. The same evaluation as the server's: on or off for everyone, a list of users, "
            "a list of plans, a percentage rollout (the same user always gets the same answer "
            "for a key); expired flags are not listed. A change made by staff is seen within "
            "seconds."
        ),
        responses={200: FlagsOutput},
    )
    def get(self, request: Request) -> Response:
        flags = flags_for_user(authenticated_user(request))
        return Response(FlagsOutput({"flags": flags}).data)
