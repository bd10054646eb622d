"""Two ceilings for `make bench`, served by the same server with the same settings.

`constant` is the cost of the stack with no work at all; `query` runs the project list's indexed
SELECT of 20 rows into a JsonResponse, with no authentication and no count. They exist only when
`BENCH_CEILINGS=true`.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path

from projects.models import Project

CONSTANT = {"status": "ok", "items": [], "total": 0}


def constant(request: HttpRequest) -> JsonResponse:
    return JsonResponse(CONSTANT)


def query(request: HttpRequest) -> JsonResponse:
    rows = list(
        Project.objects.filter(owner_id=request.GET.get("owner", ""))
        .order_by("-created_at", "-id")
        .values("id", "name", "description", "owner_id", "created_at", "updated_at")[:20]
    )
    return JsonResponse({"items": rows})


urlpatterns = [
    path("ceiling/constant", constant),
    path("ceiling/query", query),
]
