"""Writes to entitlements: upsert from sources, manual grants, revocation, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone

from accounts.models import User
from billing.models import Entitlement
from billing.selectors import effective_entitlement, plan_limits
from billing.services import (
    entitlement_grant_manual,
    entitlement_revoke,
    entitlement_upsert,
    entitlements_expire_lapsed,
)
from billing.tasks import expire_lapsed_entitlements
from config.errors import AuthorizationError, BadRequestError, ConflictError, ValidationError

pytestmark = pytest.mark.django_db


def upsert(user: User, **changes) -> Entitlement:
    values = {
        "source": "apple",
        "external_id": "2000000123456789",
        "product_id": "com.example.pro.monthly",
        "plan": "pro",
        "status": "active",
        "current_period_end": timezone.now() + timedelta(days=30),
        **changes,
    }
    return entitlement_upsert(user=user, **values)


def plan_of(user: User) -> tuple[str, str]:
    user.refresh_from_db()
    return user.subscription_plan, user.subscription_status


def test_upsert_is_idempotent_on_source_and_external_id(user):
    first = upsert(user)
    again = upsert(user)
    google = upsert(user, source="google")

    assert first.pk == again.pk != google.pk
    assert Entitlement.objects.filter(user=user).count() == 2
    assert plan_of(user) == ("pro", "active")


def test_upsert_updates_the_stored_row(user):
    ends = timezone.now() + timedelta(days=365)
    upsert(user)

    updated = upsert(user, plan="enterprise", current_period_end=ends, cancel_at_period_end=True)

    stored = Entitlement.objects.get(pk=updated.pk)
    assert (stored.plan, stored.current_period_end, stored.cancel_at_period_end) == (
        "enterprise",
        ends,
        True,
    )
    assert plan_of(user) == ("enterprise", "active")


def test_events_delivered_out_of_order_end_in_the_latest_state(user):
    t0 = timezone.now() - timedelta(hours=3)
    renewed, canceled = t0 + timedelta(hours=1), t0 + timedelta(hours=2)

    upsert(user, status="active", source_updated_at=t0)
    upsert(user, status="expired", source_updated_at=canceled)
    ignored = upsert(user, status="active", source_updated_at=renewed)

    assert ignored.status == "expired"
    stored = Entitlement.objects.get()
    assert (stored.status, stored.source_updated_at) == ("expired", canceled)
    assert plan_of(user) == ("free", "none")


def test_an_event_of_the_same_time_applies_again(user):
    at = timezone.now()
    upsert(user, status="active", source_updated_at=at)

    upsert(user, status="grace", source_updated_at=at)

    assert Entitlement.objects.get().status == "grace"


def test_an_update_without_timestamp_applies_and_keeps_the_stored_one(user):
    at = timezone.now() - timedelta(minutes=5)
    upsert(user, source_updated_at=at)

    upsert(user, status="past_due")

    stored = Entitlement.objects.get()
    assert (stored.status, stored.source_updated_at) == ("past_due", at)


def test_a_purchase_of_another_user_is_a_conflict(user, other_user):
    upsert(other_user)

    with pytest.raises(ConflictError) as caught:
        upsert(user, plan="enterprise")

    assert caught.value.status_code == 409
    assert caught.value.details["source"] == "apple"
    stored = Entitlement.objects.get()
    assert (stored.user_id, stored.plan) == (other_user.pk, "pro")
    assert plan_of(user) == ("free", "none")
    assert plan_of(other_user) == ("pro", "active")


def test_the_same_external_id_from_another_source_is_another_purchase(user, other_user):
    upsert(other_user, source="stripe", external_id="shared-123")

    upsert(user, source="google", external_id="shared-123")

    assert Entitlement.objects.count() == 2


def test_upsert_refuses_unknown_plans_and_statuses(user):
    with pytest.raises(DjangoValidationError):
        upsert(user, plan="platinum")
    with pytest.raises(DjangoValidationError):
        upsert(user, status="paused")

    assert not Entitlement.objects.exists()


def test_manual_grant_records_who_granted_it(user, staff):
    until = timezone.now() + timedelta(days=90)

    grant = entitlement_grant_manual(
        user=user, plan="enterprise", granted_by=staff, until=until, note="Design partner"
    )

    assert grant.source == "manual"
    assert grant.external_id.startswith("manual_")
    assert (grant.granted_by, grant.current_period_end) == (staff, until)
    assert grant.note == "Design partner"
    assert plan_of(user) == ("enterprise", "active")
    second = entitlement_grant_manual(user=user, plan="pro", granted_by=staff)
    assert second.external_id != grant.external_id


def test_only_staff_grant_and_only_into_the_future(user, other_user):
    with pytest.raises(AuthorizationError):
        entitlement_grant_manual(user=user, plan="pro", granted_by=other_user)
    other_user.is_staff = True
    with pytest.raises(ValidationError):
        entitlement_grant_manual(
            user=user, plan="pro", granted_by=other_user, until=timezone.now() - timedelta(days=1)
        )

    assert not Entitlement.objects.exists()


def test_revoking_a_grant_returns_the_user_to_their_other_plan(user, staff):
    upsert(user, plan="pro")
    grant = entitlement_grant_manual(user=user, plan="enterprise", granted_by=staff)

    entitlement_revoke(entitlement=grant)

    assert Entitlement.objects.get(pk=grant.pk).status == "canceled"
    assert plan_of(user) == ("pro", "active")


def test_store_purchases_are_not_revoked_here(user):
    with pytest.raises(BadRequestError):
        entitlement_revoke(entitlement=upsert(user))


def test_plan_limits_follow_the_effective_plan(user, staff, settings):
    assert plan_limits(user=user).storage_bytes == settings.BILLING_PLANS["free"]["storage_bytes"]

    upsert(user, plan="pro")
    pro = plan_limits(user=user)
    entitlement_grant_manual(user=user, plan="enterprise", granted_by=staff)
    enterprise = plan_limits(user=user)

    assert (pro.plan, pro.ai_tokens_per_month, pro.rate_limit) == ("pro", 2_000_000, "300/minute")
    assert pro.storage_bytes == 50 * 1024**3
    assert (enterprise.plan, enterprise.storage_bytes) == ("enterprise", 1024**4)


def test_lapsed_entitlements_expire_and_plans_follow(user, other_user, staff):
    now = timezone.now()
    grant = entitlement_grant_manual(
        user=user, plan="enterprise", granted_by=staff, until=now + timedelta(hours=1)
    )
    upsert(user, plan="pro", current_period_end=now + timedelta(days=20))
    stale = upsert(
        other_user, external_id="lost-renewal", current_period_end=now - timedelta(hours=1)
    )
    assert plan_of(user) == ("enterprise", "active")

    expired = entitlements_expire_lapsed(now=now + timedelta(hours=2))

    assert expired == 1
    assert Entitlement.objects.get(pk=grant.pk).status == "expired"
    assert Entitlement.objects.get(pk=stale.pk).status == "active"  # still within the leeway
    assert plan_of(user) == ("pro", "active")
    assert effective_entitlement(user=user).source == "apple"

    assert entitlements_expire_lapsed(now=now + timedelta(days=1)) == 1
    assert plan_of(other_user) == ("free", "none")
    assert entitlements_expire_lapsed(now=now + timedelta(days=1)) == 0


def test_a_late_renewal_revives_an_expired_store_entitlement(user):
    at = timezone.now() - timedelta(days=3)
    upsert(user, current_period_end=at, source_updated_at=at - timedelta(days=30))
    expire_lapsed_entitlements.delay()
    assert plan_of(user) == ("free", "none")

    upsert(user, current_period_end=at + timedelta(days=30), source_updated_at=at)

    assert plan_of(user) == ("pro", "active")
