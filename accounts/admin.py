"""The staff console for users and data exports."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.options import InlineModelAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import DataExport, User
from accounts.services import users_delete, users_set_active
from config.admin import NoEditAdmin


class StaffUserCreationForm(BaseUserCreationForm):
    """Adds a password account (staff); API users appear by themselves on first request."""

    class Meta:
        model = User
        fields = ("email",)


def _https_urls(db_field: models.Field[Any, Any], **kwargs: Any) -> forms.Field | None:
    """Form fields for the model, with URLs assumed https (Django 6's default)."""
    if isinstance(db_field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return db_field.formfield(**kwargs)


class UserChangeForm(forms.ModelForm):
    class Meta:
        model = User
        fields = (
            "email",
            "password",
            "full_name",
            "avatar_url",
            "role",
            "is_active",
            "is_staff",
            "is_superuser",
            "groups",
        )
        formfield_callback = _https_urls


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = StaffUserCreationForm
    list_display = (
        "email",
        "full_name",
        "role",
        "is_active",
        "is_staff",
        "subscription_plan",
        "last_login_at",
        "created_at",
    )
    list_filter = ("is_active", "role", "is_staff", "subscription_plan", "subscription_status")
    search_fields = ("email", "full_name", "id")
    ordering = ("-created_at",)
    readonly_fields = (
        "id",
        # Derived from the entitlements below (grant a manual plan there to change them).
        "subscription_plan",
        "subscription_status",
        "created_at",
        "updated_at",
        "last_login_at",
        "login_count",
        "erased_at",
        # Written by the identity provider's webhooks only.
        "identity_synced_at",
    )
    fieldsets = (
        (None, {"fields": ("id", "email", "password")}),
        ("Profile", {"fields": ("full_name", "avatar_url")}),
        ("Access", {"fields": ("role", "is_active", "is_staff", "is_superuser", "groups")}),
        ("Subscription", {"fields": ("subscription_plan", "subscription_status")}),
        (
            "Activity",
            {
                "fields": (
                    "last_login_at",
                    "login_count",
                    "created_at",
                    "updated_at",
                    "identity_synced_at",
                    "erased_at",
                )
            },
        ),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    filter_horizontal = ("groups",)
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ("activate_users", "deactivate_users")

    def get_inlines(
        self, request: HttpRequest, obj: User | None
    ) -> tuple[type[InlineModelAdmin[Any, Any]], ...]:
        # Inlines (added by apps above accounts) belong to an existing user: none on the add page.
        return tuple(self.inlines) if obj is not None else ()

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        users_delete(users=User.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users_delete(users=queryset)

    @admin.action(description="Activate selected users")
    def activate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, active=True)

    @admin.action(description="Deactivate selected users")
    def deactivate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, active=False)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[User], *, active: bool) -> None:
        acting_user = cast(User, request.user)
        changed = users_set_active(users=queryset, active=active, acting_user=acting_user)
        verb = "activated" if active else "deactivated"
        self.message_user(request, f"{changed} user(s) {verb}.", messages.SUCCESS)
        if queryset.filter(pk=acting_user.pk).exists():
            self.message_user(request, "Your own account was left unchanged.", messages.WARNING)


@admin.register(DataExport)
class DataExportAdmin(NoEditAdmin):
    """Data exports users asked for (read only, but deletable)."""

    list_display = ("user", "status", "created_at", "completed_at")
    list_filter = ("status",)
    search_fields = ("user__id", "user__email")
    ordering = ("-created_at",)
    list_select_related = ("user",)
    readonly_fields = ("id", "user", "status", "file", "error", "created_at", "completed_at")
    fields = readonly_fields
