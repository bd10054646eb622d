"""The staff console for entitlements and usage counters, and the inline that grants plans on a
user's page."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from billing.models import Entitlement
from billing.services import (
    entitlement_grant_manual,
    entitlement_save,
    entitlements_delete,
    user_sync_subscription,
)


class EntitlementInlineForm(forms.ModelForm):
    class Meta:
        model = Entitlement
        fields = ("plan", "status", "current_period_end", "cancel_at_period_end", "note")
        labels = {"current_period_end": "Ends"}

    def clean_current_period_end(self) -> Any:
        ends = self.cleaned_data.get("current_period_end")
        if self.instance._state.adding and ends is not None and ends <= timezone.now():
            raise forms.ValidationError("A new grant must end in the future (or leave it empty).")
        return ends


class EntitlementInlineFormSet(BaseInlineFormSet):
    """New rows become manual grants by the signed-in staff member; saving syncs the plan."""

    staff_user: User | None = None

    def save_new(self, form: forms.ModelForm, commit: bool = True) -> Any:
        if not commit or self.staff_user is None:
            return super().save_new(form, commit=commit)
        data = form.cleaned_data
        return entitlement_grant_manual(
            user=self.instance,
            plan=data["plan"],
            status=data["status"],
            granted_by=self.staff_user,
            until=data.get("current_period_end"),
            note=data.get("note") or "",
        )

    def save_existing(self, form: forms.ModelForm, obj: Any, commit: bool = True) -> Any:
        # Through the service, so a change made on the user's page is audited like any other.
        if not commit:
            return super().save_existing(form, obj, commit=commit)
        return entitlement_save(entitlement=form.save(commit=False))

    def save(self, commit: bool = True) -> list[Any]:
        saved = super().save(commit=commit)
        if commit:
            user_sync_subscription(user=self.instance)
        return saved


class EntitlementInline(admin.TabularInline):
    """Every entitlement of a user, from every source; a new row grants a plan (source manual)."""

    model = Entitlement
    fk_name = "user"
    form = EntitlementInlineForm
    formset = EntitlementInlineFormSet
    extra = 0
    fields = (
        "source",
        "plan",
        "status",
        "current_period_end",
        "cancel_at_period_end",
        "note",
        "external_id",
        "product_id",
        "granted_by",
        "created_at",
    )
    readonly_fields = ("source", "external_id", "product_id", "granted_by", "created_at")
    ordering = ("-created_at",)
    show_change_link = True
    verbose_name_plural = "entitlements (add one to grant a plan by hand)"

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = cast(type[EntitlementInlineFormSet], super().get_formset(request, obj, **kwargs))
        # A new class per request: the staff member recorded as `granted_by`.
        formset.staff_user = cast(User, request.user)
        return formset


@admin.register(Entitlement)
class EntitlementAdmin(admin.ModelAdmin):
    list_display = (
        "user",
        "source",
        "plan",
        "status",
        "current_period_end",
        "cancel_at_period_end",
        "created_at",
    )
    list_filter = ("source", "plan", "status")
    search_fields = ("user__email", "user__id", "external_id")
    list_select_related = ("user",)
    ordering = ("-created_at",)
    fields = (
        "id",
        "user",
        "source",
        "external_id",
        "product_id",
        "plan",
        "status",
        "current_period_end",
        "cancel_at_period_end",
        "source_updated_at",
        "granted_by",
        "note",
        "created_at",
        "updated_at",
    )
    # What the source reported stays as it was; staff may correct the plan, status and period.
    readonly_fields = (
        "id",
        "user",
        "source",
        "external_id",
        "product_id",
        "source_updated_at",
        "granted_by",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Plans are granted on the user's page (Entitlements inline), so the grant is recorded.
        return False

    def save_model(self, request: HttpRequest, obj: Entitlement, form: Any, change: bool) -> None:
        entitlement_save(entitlement=obj)

    def delete_model(self, request: HttpRequest, obj: Entitlement) -> None:
        entitlements_delete(entitlements=Entitlement.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Entitlement]) -> None:
        entitlements_delete(entitlements=queryset)
