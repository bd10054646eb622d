"""The audit log in the staff console: read only, filtered, exported as CSV.

No one adds, changes or deletes an event here, superusers included. The list filters by actor
type, action, target type, date, staff member acting (`?actor__id__exact=<id>`) and impersonator
(`?impersonator__id__exact=<id>`), searches actions, ids and actor emails, and accepts lookups on
the event's own fields in its address: each change page's "History (audit log)" link opens
`?target_type__in=<label>,<model name>&target_id=<pk>`. "Export CSV" streams the list as
filtered, with every column, and is itself recorded (`audit.export`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import QuerySet
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.urls import path, reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_record
from config.admin import ReadOnlyAdmin

# The CSV's columns, in order: every field of an event.
EXPORT_COLUMNS = (
    "id",
    "created_at",
    "action",
    "actor_type",
    "actor_id",
    "actor_label",
    "impersonator_id",
    "impersonator_label",
    "target_type",
    "target_id",
    "changes",
    "ip",
    "user_agent",
    "request_id",
)
EXPORT_CHUNK_SIZE = 2000
# A spreadsheet runs a cell starting with one of these as a formula: such text gets a quote first.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _StaffFilter(admin.SimpleListFilter):
    """Events of one staff member, chosen from the staff accounts (any user id in the address)."""

    def lookups(self, request: HttpRequest, model_admin: Any) -> Iterable[tuple[Any, str]]:
        # Both filters list the same accounts: read once per request.
        choices: list[tuple[Any, str]] | None = getattr(request, "_audit_staff_choices", None)
        if choices is None:
            staff = get_user_model().objects.filter(is_staff=True).order_by("email")
            choices = [(pk, email or pk) for pk, email in staff.values_list("pk", "email")]
            request._audit_staff_choices = choices  # type: ignore[attr-defined]
        return choices

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        return queryset.filter(**{str(self.parameter_name): value}) if value else queryset


class ActorFilter(_StaffFilter):
    title = "staff member acting"
    parameter_name = "actor__id__exact"


class ImpersonatorFilter(_StaffFilter):
    title = "impersonator"
    parameter_name = "impersonator__id__exact"


class _Echo:
    """A file that hands back what is written to it, for csv.writer to stream."""

    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False, sort_keys=True)
    elif hasattr(value, "isoformat"):
        value = value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return f"'{value}"
    return "" if value is None else value


def export_rows(queryset: QuerySet[AuditEvent]) -> Iterator[str]:
    """The events of `queryset` as CSV lines, a header first, read in chunks."""
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    for row in queryset.values_list(*EXPORT_COLUMNS).iterator(chunk_size=EXPORT_CHUNK_SIZE):
        yield writer.writerow([_cell(value) for value in row])


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    """Every recorded action, newest first; nothing here can be added, changed or deleted
    (`ReadOnlyAdmin` refuses those permissions to everyone, superusers included)."""

    list_display = (
        "created_at",
        "action",
        "actor_type",
        "actor_name",
        "impersonator_name",
        "target_type",
        "target_id",
        "ip",
    )
    list_filter = (
        "actor_type",
        "action",
        "target_type",
        ("created_at", admin.DateFieldListFilter),
        ActorFilter,
        ImpersonatorFilter,
    )
    search_fields = ("action", "=target_id", "actor_label", "=actor__id", "=request_id")
    search_help_text = (
        "Search by action, actor email, or exactly by target id, actor id or request id."
    )
    list_select_related = ("actor", "impersonator")
    show_full_result_count = False
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-id")
    actions = None
    fields = (
        "created_at",
        "action",
        "actor",
        "actor_label",
        "actor_type",
        "impersonator",
        "impersonator_label",
        "target_type",
        "target_id",
        "changes",
        "ip",
        "user_agent",
        "request_id",
    )
    readonly_fields = fields

    @admin.display(description="actor", ordering="actor_label")
    def actor_name(self, event: AuditEvent) -> str:
        return event.actor_label or (str(event.actor) if event.actor else "")

    @admin.display(description="impersonator", ordering="impersonator_label")
    def impersonator_name(self, event: AuditEvent) -> str:
        return event.impersonator_label or (str(event.impersonator) if event.impersonator else "")

    def get_urls(self) -> list[Any]:
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_csv_view),
            name="audit_auditevent_export",
        )
        return [export, *super().get_urls()]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """The list, titled as one object's history when opened from its change page."""
        context = dict(extra_context or {})
        target_id = request.GET.get("target_id")
        if target_id:
            types = request.GET.get("target_type__in") or request.GET.get("target_type", "")
            context.setdefault("subtitle", f"History of {types.replace(',', ' / ')} {target_id}")
        return super().changelist_view(request, context)

    def export_csv_view(self, request: HttpRequest) -> HttpResponseBase:
        """The events the list shows with the same filters and search, all pages, as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(f"{reverse('admin:audit_auditevent_changelist')}?e=1")
        exported = audit_record(
            action="audit.export",
            actor=request.user,
            actor_type=AuditEvent.ActorType.STAFF,
            target_type="auditevent",
            changes={"filters": (None, request.GET.urlencode())},
            request=request,
        )
        # The events recorded before this export (its own record and later ones are not in it).
        queryset = changelist.queryset.filter(pk__lt=exported.pk).select_related(None)
        response = StreamingHttpResponse(export_rows(queryset), content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="audit-log-{stamp}.csv"'
        return response
