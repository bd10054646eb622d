"""The staff console for users and data exports, and the admin's sign-in form.

Only superusers grant or change access (role, staff, superuser, groups, permissions): other
staff see those fields read-only, and may not change or delete another staff member's account
(its password, its email) at all, which would let them sign in as someone with more access.
Passwords are never shown: the hash's summary and a link to the change-password page.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.options import InlineModelAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Model, Q, QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.template.response import TemplateResponse

from accounts.backends import password_sign_in_enabled, sign_in_audit
from accounts.models import DataExport, User
from accounts.notify import BODY_MAX_LENGTH, TITLE_MAX_LENGTH, notification_send
from accounts.services import users_delete, users_set_active
from accounts.sso import SignInOptions, sign_in_options
from audit.models import AuditEvent
from audit.services import audit_record
from config.admin import NoEditAdmin

# What only a superuser may grant or change.
ACCESS_FIELDS = ("role", "is_staff", "is_superuser", "groups", "user_permissions")
# Changes to these on the user page are recorded in the audit log (`user.access_change`).
AUDITED_FIELDS = (*ACCESS_FIELDS, "is_active")
# The "Access" part of the user page, in its order.
ACCESS_PAGE_FIELDS = ("role", "is_active", "is_staff", "is_superuser", "groups", "user_permissions")


class StaffSignInForm(AdminAuthenticationForm):
    """The admin's password form, recording every attempt in the audit log. With password
    sign-in off (staff SSO on, ADMIN_PASSWORD_LOGIN false) it refuses without checking."""

    @property
    def sign_in_options(self) -> SignInOptions:
        """What the login page offers: the SSO button, the password form, or both."""
        return sign_in_options()

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        request, password = self.request, self.cleaned_data.get("password")
        if not password_sign_in_enabled():
            if request is not None:
                sign_in_audit(
                    request=request,
                    username=username if isinstance(username, str) else "",
                    user=None,
                    reason="password_sign_in_off",
                )
            raise ValidationError(
                f"Password sign-in is turned off: sign in with {settings.STAFF_SSO_PROVIDER_NAME}.",
                code="password_sign_in_off",
            )
        if request is None or not isinstance(username, str) or not password:
            return super().clean()  # incomplete: no password is checked
        try:
            cleaned = super().clean()
        except ValidationError:
            sign_in_audit(request=request, username=username, user=None)
            raise
        sign_in_audit(request=request, username=username, user=self.user_cache)
        return cleaned


admin.site.login_form = StaffSignInForm


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


class UserChangeForm(DjangoUserChangeForm):
    """The user page's form: the password as a read-only summary (Django's hash widget, with a
    link to the change-password page), never the hash in an input."""

    class Meta:
        model = User
        fields = ("email", "password", "full_name", "avatar_url", *ACCESS_PAGE_FIELDS)
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
        ("Access", {"fields": ACCESS_PAGE_FIELDS}),
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
    filter_horizontal = ("groups", "user_permissions")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    actions = ("activate_users", "deactivate_users", "send_notification")

    def get_inlines(
        self, request: HttpRequest, obj: User | None
    ) -> tuple[type[InlineModelAdmin[Any, Any]], ...]:
        # Inlines (added by apps above accounts) belong to an existing user: none on the add page.
        return tuple(self.inlines) if obj is not None else ()

    def has_change_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return super().has_change_permission(request, obj) and _may_manage(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return super().has_delete_permission(request, obj) and _may_manage(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> Any:
        readonly = tuple(super().get_readonly_fields(request, obj))
        if _is_superuser(request):
            return readonly
        return (*readonly, *ACCESS_FIELDS)

    def get_fieldsets(self, request: HttpRequest, obj: User | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        # Shown read-only, the password field would print the raw hash.
        return [
            (
                name,
                {
                    **options,
                    "fields": tuple(
                        "password_summary" if field == "password" else field
                        for field in options["fields"]
                    ),
                },
            )
            for name, options in fieldsets
        ]

    @admin.display(description="Password")
    def password_summary(self, obj: User) -> str:
        return "Set" if obj.has_usable_password() else "No password set"

    def save_related(
        self,
        request: HttpRequest,
        form: ModelForm[User],
        formsets: list[BaseInlineFormSet[Any, Any, Any]],
        change: bool,
    ) -> None:
        super().save_related(request, form, formsets, change)
        changes = {
            field: (_plain(form.initial.get(field)), _plain(form.cleaned_data.get(field)))
            for field in AUDITED_FIELDS
            if field in form.changed_data
        }
        if change and changes:
            audit_record(
                action="user.access_change",
                actor=request.user,
                actor_type=AuditEvent.ActorType.STAFF,
                target_type="user",
                target_id=form.instance.pk,
                changes=changes,
                request=request,
            )

    def delete_model(self, request: HttpRequest, obj: User) -> None:
        users_delete(users=User.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        users_delete(users=queryset)

    @admin.action(description="Activate selected users", permissions=("change",))
    def activate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, active=True)

    @admin.action(description="Deactivate selected users", permissions=("change",))
    def deactivate_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._set_active(request, queryset, active=False)

    def _set_active(self, request: HttpRequest, queryset: QuerySet[User], *, active: bool) -> None:
        acting_user = cast(User, request.user)
        allowed = _manageable(request, queryset)
        skipped = queryset.exclude(pk__in=allowed.values("pk")).count()
        changed = users_set_active(users=allowed, active=active, acting_user=acting_user)
        verb = "activated" if active else "deactivated"
        self.message_user(request, f"{changed} user(s) {verb}.", messages.SUCCESS)
        if queryset.filter(pk=acting_user.pk).exists():
            self.message_user(request, "Your own account was left unchanged.", messages.WARNING)
        if skipped:
            self.message_user(
                request,
                f"{skipped} staff account(s) left unchanged: only a superuser may change "
                "another staff member's account.",
                messages.WARNING,
            )

    @admin.action(description="Send an in-app notification", permissions=("change",))
    def send_notification(
        self, request: HttpRequest, queryset: QuerySet[User]
    ) -> TemplateResponse | None:
        """Ask for a title and body (an intermediate page), then send them to the selected
        users' open clients; the audit log records the action for each user once it ran."""
        form = NotificationForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Send an in-app notification",
                "opts": self.model._meta,
                "form": form,
                "users": queryset,
                # Posted back as they came: the ticked rows, and "select all" across pages.
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across") == "1",
            }
            return TemplateResponse(request, "admin/accounts/user/send_notification.html", context)
        user_ids = list(queryset.values_list("pk", flat=True))
        for user_id in user_ids:
            notification_send(
                user_id=user_id,
                title=form.cleaned_data["title"],
                body=form.cleaned_data["body"],
            )
        self.message_user(
            request, f"Notification sent to {len(user_ids)} user(s).", messages.SUCCESS
        )
        return None


class NotificationForm(forms.Form):
    """The in-app notification staff send from the users list."""

    title = forms.CharField(max_length=TITLE_MAX_LENGTH)
    body = forms.CharField(max_length=BODY_MAX_LENGTH, widget=forms.Textarea(attrs={"rows": 4}))


def _plain(value: Any) -> Any:
    """A form value as the audit log keeps it: related objects as their sorted names."""
    if isinstance(value, QuerySet | list | tuple):
        return sorted(str(item) for item in value)
    return str(value) if isinstance(value, Model) else value


def _is_superuser(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_superuser", False))


def _may_manage(request: HttpRequest, obj: User | None) -> bool:
    """Whether the signed-in staff member may change (or delete) `obj` at all: a superuser any
    account, other staff their own and those of users without staff access."""
    if obj is None or _is_superuser(request) or obj.pk == request.user.pk:
        return True
    return not (obj.is_staff or obj.is_superuser)


def _manageable(request: HttpRequest, queryset: QuerySet[User]) -> QuerySet[User]:
    """The users of `queryset` the signed-in staff member may change (`_may_manage`)."""
    if _is_superuser(request):
        return queryset
    return queryset.filter(Q(is_staff=False, is_superuser=False) | Q(pk=request.user.pk))


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
