"""Offset pagination for every list: `?skip=&limit=` → `{"items", "total", "skip", "limit"}`."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import connection
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
# At most 19 digits, no sign or spaces: what `page_params` reads without the serializer.
PLAIN_NUMBER = re.compile(r"^[0-9]{1,19}\Z")


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


def page_params(request: Request) -> tuple[int, int]:
    """`skip` and `limit` of the request; 422 when out of range or not integers.

    Plain digits in range (the usual request) are read directly; anything else goes through
    `PageParams`, whose errors are the envelope's.
    """
    query = request.query_params
    values = []
    for name, default, maximum, minimum in (
        ("skip", 0, MAX_SKIP, 0),
        ("limit", DEFAULT_LIMIT, MAX_LIMIT, 1),
    ):
        given = query.getlist(name)
        if not given:
            values.append(default)
            continue
        text = given[-1]
        if len(given) > 1 or not PLAIN_NUMBER.match(text) or not minimum <= int(text) <= maximum:
            params = validated(PageParams, query)
            return params["skip"], params["limit"]
        values.append(int(text))
    return values[0], values[1]


def paginate(request: Request, queryset: QuerySet[Any]) -> Page:
    """Slice `queryset` by the request's `skip`/`limit` (422 when out of range).

    The total comes with the page from a window function (one query); only a page past the end
    needs a separate COUNT.
    """
    skip, limit = page_params(request)
    items = list(queryset.annotate(_total=Window(Count("pk")))[skip : skip + limit])
    if items:
        first = items[0]
        total = first["_total"] if isinstance(first, dict) else first._total
    else:
        total = queryset.count() if skip else 0
    return Page(items=items, total=total, skip=skip, limit=limit)


class CompiledList:
    """A `.values()` list whose SQL is compiled once per process, on PostgreSQL.

    Building and compiling a queryset costs the list more CPU than PostgreSQL takes to run its
    indexed SELECT. `build(**arguments)` returns the queryset; it is compiled once, with a
    sentinel standing for each argument, and each page then runs that SQL with the request's
    arguments where the sentinels were, and `LIMIT`/`OFFSET` as parameters. Arguments must be
    used as plain parameters (an equality filter on a text column): each sentinel must come
    back unchanged, exactly once, among the compiled parameters, or compiling fails loudly.
    Other backends go through the queryset (their raw rows would need Django's converters).
    """

    def __init__(self, build: Callable[..., QuerySet[Any, dict[str, Any]]]) -> None:
        self.build = build
        self._compiled: tuple[str, list[Any], list[tuple[int, str]], list[str]] | None = None
        self._lock = threading.Lock()

    def page(self, request: Request, **arguments: str) -> Page:
        """The request's page of the list `build(**arguments)` (as `paginate`)."""
        if connection.vendor != "postgresql":
            return paginate(request, self.build(**arguments))
        skip, limit = page_params(request)
        sql, template, slots, columns = self._statement(sorted(arguments))
        params = list(template)
        for index, name in slots:
            params[index] = arguments[name]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*params, limit, skip])
            items = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        total = items[0]["_total"] if items else 0
        if not items and skip:  # past the end: the total needs its own count
            total = self.build(**arguments).count()
        return Page(items=items, total=total, skip=skip, limit=limit)

    def _statement(
        self, names: list[str]
    ) -> tuple[str, list[Any], list[tuple[int, str]], list[str]]:
        with self._lock:
            if self._compiled is None:
                self._compiled = self._compile(names)
            return self._compiled

    def _compile(self, names: list[str]) -> tuple[str, list[Any], list[tuple[int, str]], list[str]]:
        sentinels = {name: f"\x1f{name}:{uuid.uuid4().hex}" for name in names}
        queryset = self.build(**sentinels).annotate(_total=Window(Count("pk")))
        sql, params = queryset.query.sql_with_params()
        template = list(params)
        slots = []
        for name, sentinel in sentinels.items():
            found = [index for index, value in enumerate(template) if value == sentinel]
            if len(found) != 1:
                raise ImproperlyConfigured(f"{name!r} is not a plain parameter of the list query")
            slots.append((found[0], name))
        query = queryset.query
        columns = [*query.extra_select, *query.values_select, *query.annotation_select]
        return f"{sql} LIMIT %s OFFSET %s", template, slots, columns


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
