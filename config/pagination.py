"""Offset pagination for every list: `?skip=&limit=` → `{"items", "total", "skip", "limit"}`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet, Window
from drf_spectacular.utils import OpenApiParameter, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from config.api import validated
from config.serializers import QueryInput

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# SQL's OFFSET is a signed 64-bit integer; a larger skip (plus the limit) cannot be sent.
MAX_SKIP = 2**62


class PageParams(QueryInput):
    skip = serializers.IntegerField(min_value=0, max_value=MAX_SKIP, default=0)
    limit = serializers.IntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)


@dataclass(frozen=True)
class Page:
    """One page of a queryset and the true total."""

    items: list[Any]
    total: int
    skip: int
    limit: int

    def response(self, serializer_class: type[serializers.BaseSerializer[Any]]) -> Response:
        """Serialize the items and wrap them in the page envelope."""
        data = serializer_class(self.items, many=True).data
        return Response(
            {"items": data, "total": self.total, "skip": self.skip, "limit": self.limit}
        )


def paginate(request: Request, queryset: QuerySet[Any]) -> Page:
    """Slice `queryset` by the request's `skip`/`limit` (422 when out of range).

    The total comes with the page from a window function (one query); only a page past the end
    needs a separate COUNT.
    """
    params = validated(PageParams, request.query_params)
    skip, limit = params["skip"], params["limit"]
    items = list(queryset.annotate(_total=Window(Count("pk")))[skip : skip + limit])
    if items:
        first = items[0]
        total = first["_total"] if isinstance(first, dict) else first._total
    else:
        total = queryset.count() if skip else 0
    return Page(items=items, total=total, skip=skip, limit=limit)


PAGE_PARAMETERS = [
    OpenApiParameter(
        "skip",
        {"type": "integer", "minimum": 0, "maximum": MAX_SKIP},
        description="Items to skip (≥ 0).",
        default=0,
    ),
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
        description=f"Page size (1..{MAX_LIMIT}).",
        default=DEFAULT_LIMIT,
    ),
]


def page_of(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """The OpenAPI shape of a page of `serializer_class`."""
    name = serializer_class.__name__.removesuffix("Output")
    return inline_serializer(
        f"{name}Page",
        {
            "items": serializer_class(many=True),
            "total": serializers.IntegerField(),
            "skip": serializers.IntegerField(),
            "limit": serializers.IntegerField(),
        },
    )
