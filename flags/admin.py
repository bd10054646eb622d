"""Feature flags in the staff console. Every write goes through `flags.services`, which publishes
the change to every process within seconds."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from billing.models import Entitlement
from flags.models import Flag
from flags.services import flag_delete, flag_save, flags_delete


class FlagForm(forms.ModelForm):
    plans = forms.MultipleChoiceField(
        choices=Entitlement.Plan.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=Flag._meta.get_field("plans").help_text,
    )

    class Meta:
        model = Flag
        fields = ("key", "description", "everyone", "users", "plans", "percent", "expires_at")


class ExpiryFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("live", "Not expired"), ("expired", "Expired"), ("never", "No expiry")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Flag]) -> QuerySet[Flag]:
        now = timezone.now()
        if self.value() == "live":
            return queryset.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now)
        if self.value() == "never":
            return queryset.filter(expires_at__isnull=True)
        return queryset


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    form = FlagForm
    list_display = ("key", "state", "percent", "plan_names", "expires_at", "updated_at")
    list_filter = ("everyone", ExpiryFilter, "updated_at")
    search_fields = ("key", "description")
    autocomplete_fields = ("users",)
    readonly_fields = ("created_at", "updated_at")
    ordering = ("key",)
    fieldsets = (
        (None, {"fields": ("key", "description")}),
        (
            "Who gets it",
            {
                "fields": ("everyone", "users", "plans", "percent"),
                "description": (
                    "On or off for everyone, or decided by the rules: a user gets the flag when "
                    "listed, on one of the plans, or within the percentage. Changes reach every "
                    "server within a few seconds."
                ),
            },
        ),
        ("Expiry", {"fields": ("expires_at",)}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Flag]:
        return super().get_queryset(request).annotate(user_count=Count("users", distinct=True))

    @admin.display(description="state")
    def state(self, flag: Flag) -> str:
        """One line saying who gets the flag now."""
        if flag.expires_at is not None and flag.expires_at <= timezone.now():
            return "Expired: off for everyone"
        if flag.everyone != Flag.Everyone.RULES:
            return str(flag.get_everyone_display())
        user_count = getattr(flag, "user_count", None)
        if user_count is None:
            user_count = flag.users.count()
        rules = []
        if user_count:
            rules.append(f"{user_count} user{'s' if user_count != 1 else ''}")
        if flag.plans:
            rules.append(f"plan {', '.join(flag.plans)}")
        if flag.percent:
            rules.append(f"{flag.percent.normalize():f}% of users")
        return "Rules: " + "; ".join(rules) if rules else "Rules: no one yet"

    @admin.display(description="plans")
    def plan_names(self, flag: Flag) -> str:
        return ", ".join(flag.plans) or "-"

    def save_model(self, request: HttpRequest, obj: Flag, form: Any, change: bool) -> None:
        # The flag and its users are written together, and published once, by the service.
        flag_save(flag=obj, users=form.cleaned_data.get("users"))

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        # Only inlines are left to save (none today): `users` were saved by `flag_save`.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: Flag) -> None:
        flag_delete(flag=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Flag]) -> None:
        flags_delete(flags=queryset)
