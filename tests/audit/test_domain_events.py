"""Sensitive writes made outside the admin's forms are in the audit log too: entitlements from
every source, a user's deactivation and erasure, by whom (user, staff, provider, system)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.services import user_delete_from_identity
from audit.models import AuditEvent
from billing.models import Entitlement
from billing.tasks import expire_lapsed_entitlements
from tests.audit.admin_forms import form_data
from tests.billing.conftest import MONTHLY, deliver, stripe_fake  # noqa: F401 - the fixture
from tests.billing.factories import EntitlementFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def events(action: str, **filters) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("id"))


def test_a_stripe_subscription_is_granted_then_revoked_by_the_provider(
    client,
    user,
    stripe_fake,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    customer = stripe_fake.add_customer(user_id=user.pk, email=user.email)
    sub = stripe_fake.add_subscription(customer=customer["id"], price=MONTHLY)
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, stripe_fake.event("customer.subscription.created", sub))
    stripe_fake.update("subscriptions", sub["id"], status="canceled")
    with django_capture_on_commit_callbacks(execute=True):
        deliver(client, stripe_fake.event("customer.subscription.updated", sub))

    entitlement = Entitlement.objects.get(user=user)
    (grant,) = events("entitlement.grant", target_type="user", target_id=user.pk)
    assert (grant.actor, grant.actor_type, grant.actor_label) == (None, "provider", "stripe")
    end = entitlement.current_period_end.isoformat()
    assert grant.changes == {
        "entitlement": [None, str(entitlement.pk)],
        "source": [None, "stripe"],
        "plan": [None, "pro"],
        "status": [None, "active"],
        "current_period_end": [None, end],
        "cancel_at_period_end": [None, False],
    }
    (revoke,) = events("entitlement.revoke", target_id=user.pk)
    assert revoke.actor_type == "provider" and revoke.changes["status"] == ["active", "canceled"]
    assert revoke.changes["entitlement"] == [str(entitlement.pk)] * 2


def test_staff_changing_an_entitlement_in_the_admin_is_recorded_as_staff(client, staff):
    # Whole seconds: the admin's time widget shows no fractions (saving would change them).
    ends = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    entitlement = EntitlementFactory(plan="pro", current_period_end=ends)
    url = f"/admin/billing/entitlement/{entitlement.pk}/change/"

    response = client.post(url, {**form_data(client.get(url)), "plan": "enterprise"})

    assert response.status_code == 302
    (change,) = events("entitlement.change", target_id=entitlement.user_id)
    assert (change.actor, change.actor_type) == (staff, "staff")
    assert change.changes["plan"] == ["pro", "enterprise"]
    assert set(change.changes) == {"entitlement", "source", "plan"}
    (admin_change,) = events("admin.change", target_type="billing.entitlement")
    assert admin_change.changes == {"plan": ["pro", "enterprise"]}


def test_staff_changing_an_entitlement_on_the_users_page_is_recorded_as_staff(client, staff):
    ends = (timezone.now() + timedelta(days=30)).replace(microsecond=0)
    entitlement = EntitlementFactory(plan="pro", current_period_end=ends)
    url = f"/admin/accounts/user/{entitlement.user_id}/change/"
    data = form_data(client.get(url))
    (plan_field,) = [key for key in data if key.endswith("-0-plan")]

    response = client.post(url, {**data, plan_field: "enterprise"})

    assert response.status_code == 302, response.context and response.context.get("errors")
    (change,) = events("entitlement.change", target_id=entitlement.user_id)
    assert (change.actor, change.actor_type) == (staff, "staff")
    assert change.changes["plan"] == ["pro", "enterprise"]
    entitlement.user.refresh_from_db()
    assert entitlement.user.subscription_plan == "enterprise"


def test_staff_deleting_an_entitlement_revokes_it(client, staff):
    entitlement = EntitlementFactory(source="manual", external_id="manual_x")

    client.post(f"/admin/billing/entitlement/{entitlement.pk}/delete/", {"post": "yes"})

    (revoke,) = events("entitlement.revoke", target_id=entitlement.user_id)
    assert (revoke.actor, revoke.changes["plan"], revoke.changes["status"]) == (
        staff,
        ["pro", None],
        ["active", None],
    )


def test_lapsed_entitlements_are_revoked_by_the_system():
    entitlement = EntitlementFactory(current_period_end=timezone.now() - timedelta(days=1))

    assert expire_lapsed_entitlements.delay().get() == 1

    (revoke,) = events("entitlement.revoke", target_id=entitlement.user_id)
    assert (revoke.actor, revoke.actor_type) == (None, "system")
    assert revoke.changes["status"] == ["active", "expired"]


def test_deleting_my_account_records_the_deactivation_by_me_then_the_erasure(
    api, user, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api.as_user(user).delete("/api/v1/app/users/me")

    assert response.status_code == 204
    (deactivate,) = events("user.deactivate")
    assert deactivate.actor_type == "user" and deactivate.action == "user.deactivate"
    (erase,) = events("user.erase", target_id=user.pk)
    assert erase.actor_type == "system"


def test_the_identity_provider_deleting_a_user_is_recorded_as_the_provider(user):
    user_delete_from_identity(user_id=user.pk)

    (deactivate,) = events("user.deactivate", target_id=user.pk)
    assert (deactivate.actor, deactivate.actor_type, deactivate.actor_label) == (
        None,
        "provider",
        "identity provider",
    )


def test_staff_activating_users_records_only_those_that_changed(client, staff):
    inactive, active = UserFactory(is_active=False), UserFactory(is_active=True)

    client.post(
        "/admin/accounts/user/",
        {"action": "activate_users", "_selected_action": [inactive.pk, active.pk]},
    )

    (activate,) = events("user.activate")
    assert (activate.target_id, activate.actor) == (inactive.pk, staff)
    assert activate.changes == {"is_active": [False, True]}
