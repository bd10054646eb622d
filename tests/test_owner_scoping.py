"""Every resource a user owns is reached through the owner-scoped queryset, so scoping to the
caller is declared once per model and a new selector or view cannot forget it."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings

from config.models import OwnedQuerySet

# Rows tied to a user that are not the user's resources through the API: kept by staff-facing
# or infrastructure apps (counters, the outbox, the audit log, entitlements, exports, staff
# impersonation sessions).
NOT_USER_RESOURCES = {
    "accounts.DataExport",
    "accounts.Impersonation",
    "audit.AuditEvent",
    "billing.Entitlement",
    "notifications.EmailMessage",
    "usage.UsageCounter",
    "djstripe",
    "django_celery_results",
    "admin",
    "auth",
}


def _owned_models():
    for model in apps.get_models():
        label = f"{model._meta.app_label}.{model.__name__}"
        if label in NOT_USER_RESOURCES or model._meta.app_label in NOT_USER_RESOURCES:
            continue
        for field in model._meta.get_fields():
            related = getattr(field, "related_model", None)
            if (
                field.many_to_one
                and related is not None
                and (related._meta.label == settings.AUTH_USER_MODEL)
            ):
                yield label, model, field.name


def test_every_owned_model_is_scoped_by_its_owner_field():
    owned = list(_owned_models())

    assert {label for label, _, _ in owned} >= {"projects.Project", "files.File", "ai.AIUsage"}
    for label, model, field_name in owned:
        queryset = model._default_manager.all()
        assert isinstance(queryset, OwnedQuerySet), label
        assert queryset.owner_field == field_name, label
