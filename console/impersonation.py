"""Impersonation in the staff console: the "Impersonate" button and form on a user's page, the
page that shows the token once, and the list of sessions with "End".

The rules (who may impersonate whom, durations, audit) are `accounts.impersonation`'s; these views
only collect the form and show the outcome.
"""

from __future__ import annotations

from functools import partial
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.impersonation import (
    DEFAULT_MINUTES,
    MAX_MINUTES,
    MIN_MINUTES,
    REASON_MAX_LENGTH,
    impersonation_end,
    impersonation_refusal,
    impersonation_start,
    staff_may_impersonate,
)
from accounts.models import Impersonation, User
from config.admin import ReadOnlyAdmin
from config.errors import AppError

TEMPLATE = "admin/console/impersonate.html"
# Where the token page points its example request.
EXAMPLE_PATH = "/api/v1/app/users/me"


class ImpersonationForm(forms.Form):
    """Why, for how long, and whether the session may change anything."""

    reason = forms.CharField(
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="Recorded in the audit log, e.g. the support ticket.",
    )
    minutes = forms.IntegerField(
        label="Duration (minutes)",
        min_value=MIN_MINUTES,
        max_value=MAX_MINUTES,
        initial=DEFAULT_MINUTES,
        help_text=f"Between {MIN_MINUTES} and {MAX_MINUTES} minutes.",
    )
    allow_changes = forms.BooleanField(
        required=False,
        label="Allow changes",
        help_text="Without it the token can only read: POST, PATCH and DELETE get 403.",
    )


def _user_change_url(user_id: str) -> str:
    return reverse("admin:accounts_user_change", args=[quote(user_id)])


def impersonate_view(
    model_admin: admin.ModelAdmin[User], request: HttpRequest, object_id: str
) -> HttpResponse:
    """GET: the form; POST: start the session and show its token once (never stored)."""
    if not staff_may_impersonate(request.user):
        raise PermissionDenied
    user = model_admin.get_object(request, unquote(object_id))
    if user is None:
        return HttpResponseRedirect(reverse("admin:accounts_user_changelist"))
    refusal = impersonation_refusal(user)
    if refusal:
        messages.error(request, refusal)
        return HttpResponseRedirect(_user_change_url(user.pk))
    form = ImpersonationForm(request.POST if request.method == "POST" else None)
    context: dict[str, Any] = {
        **model_admin.admin_site.each_context(request),
        "title": f"Impersonate {user}",
        "opts": model_admin.opts,
        "subject": user,
        "user_change_url": _user_change_url(user.pk),
        "form": form,
    }
    if request.method == "POST" and form.is_valid():
        try:
            impersonation, token = impersonation_start(
                staff=cast(User, request.user),
                user=user,
                reason=form.cleaned_data["reason"],
                minutes=form.cleaned_data["minutes"],
                allow_changes=form.cleaned_data["allow_changes"],
                request=request,
            )
        except AppError as error:
            messages.error(request, error.message)
            return HttpResponseRedirect(_user_change_url(user.pk))
        example_url = request.build_absolute_uri(EXAMPLE_PATH)
        context.update(
            title=f"Impersonating {user}",
            impersonation=impersonation,
            token=token,
            curl_example=f'curl -H "Authorization: Bearer {token}" {example_url}',
            end_url=reverse("admin:accounts_impersonation_end", args=[impersonation.pk]),
        )
    return TemplateResponse(request, TEMPLATE, context)


class ImpersonateUserMixin:
    """For the user admin: the impersonate URL, and the button's link on the user's page when
    the signed-in staff member may impersonate that user."""

    admin_site: admin.AdminSite

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(
            partial(impersonate_view, cast("admin.ModelAdmin[User]", self))
        )
        return [
            path("<path:object_id>/impersonate/", view, name="accounts_user_impersonate"),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: User | None = None,
    ) -> HttpResponse:
        if (
            obj is not None
            and staff_may_impersonate(request.user)
            and impersonation_refusal(obj) is None
        ):
            context["impersonate_url"] = reverse(
                "admin:accounts_user_impersonate", args=[quote(obj.pk)]
            )
        response: HttpResponse = super().render_change_form(  # type: ignore[misc]
            request, context, add, change, form_url, obj
        )
        return response


class StatusFilter(admin.SimpleListFilter):
    """Active, ended early, or expired."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("active", "Active"), ("ended", "Ended early"), ("expired", "Expired")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Impersonation]
    ) -> QuerySet[Impersonation]:
        now = timezone.now()
        if self.value() == "active":
            return queryset.filter(ended_at__isnull=True, expires_at__gt=now)
        if self.value() == "ended":
            return queryset.filter(ended_at__isnull=False)
        if self.value() == "expired":
            return queryset.filter(ended_at__isnull=True, expires_at__lte=now)
        return queryset


class ImpersonationAdmin(ReadOnlyAdmin):
    """Impersonation sessions (read only), with "End" for running ones."""

    list_display = (
        "user",
        "staff",
        "short_reason",
        "allow_changes",
        "status",
        "created_at",
        "expires_at",
        "ended_at",
        "ended_by",
    )
    list_filter = (StatusFilter, "allow_changes")
    search_fields = ("user__id", "user__email", "staff__email", "reason")
    list_select_related = ("user", "staff", "ended_by")
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    fields = (
        "id",
        "user",
        "staff",
        "reason",
        "allow_changes",
        "status",
        "created_at",
        "expires_at",
        "ended_at",
        "ended_by",
    )
    readonly_fields = fields
    actions = ("end_sessions",)

    @admin.display(description="Reason")
    def short_reason(self, obj: Impersonation) -> str:
        return obj.reason if len(obj.reason) <= 80 else f"{obj.reason[:79]}…"

    def has_impersonate_permission(self, request: HttpRequest) -> bool:
        """Ending sessions takes the right to start them."""
        return staff_may_impersonate(request.user)

    @admin.action(description="End selected sessions now", permissions=("impersonate",))
    def end_sessions(self, request: HttpRequest, queryset: QuerySet[Impersonation]) -> None:
        running = queryset.filter(ended_at__isnull=True, expires_at__gt=timezone.now())
        ended = 0
        for impersonation in running:
            try:
                impersonation_end(
                    impersonation=impersonation, ended_by=cast(User, request.user), request=request
                )
            except AppError:
                continue  # ended or expired meanwhile
            ended += 1
        skipped = queryset.count() - ended
        self.message_user(request, f"{ended} session(s) ended.", messages.SUCCESS)
        if skipped:
            self.message_user(
                request, f"{skipped} session(s) had already ended or expired.", messages.WARNING
            )

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(require_POST(self.end_view))
        return [
            path("<uuid:object_id>/end/", view, name="accounts_impersonation_end"),
            *super().get_urls(),
        ]

    def end_view(self, request: HttpRequest, object_id: Any) -> HttpResponseBase:
        """POST: end one session now, then back to the user's page."""
        if not staff_may_impersonate(request.user):
            raise PermissionDenied
        impersonation = get_object_or_404(Impersonation, pk=object_id)
        try:
            impersonation_end(
                impersonation=impersonation, ended_by=cast(User, request.user), request=request
            )
        except AppError as error:
            messages.warning(request, error.message)
        else:
            messages.success(request, f"Impersonation of {impersonation.user} ended.")
        return HttpResponseRedirect(_user_change_url(impersonation.user_id))
