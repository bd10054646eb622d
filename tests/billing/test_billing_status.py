"""GET /api/v1/app/billing/status and the user's subscription fields."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from billing.services import entitlement_grant_manual, entitlement_revoke, entitlement_upsert
from tests.billing.factories import EntitlementFactory
from tests.factories import UserFactory

STATUS_URL = "/api/v1/app/billing/status"
ME_URL = "/api/v1/app/users/me"

pytestmark = pytest.mark.django_db


def status_of(api, user) -> dict:
    response = api.as_user(user).get(STATUS_URL)
    assert response.status_code == 200, response.content
    body: dict = response.json()
    return body


def test_a_user_without_entitlements_is_on_free(api, user):
    body = status_of(api, user)

    assert body == {
        "plan": "free",
        "status": "none",
        "source": None,
        "current_period_end": None,
        "cancel_at_period_end": False,
        "has_active_subscription": False,
    }


def test_an_active_pro_subscription_is_shown(api, user):
    ends = timezone.now() + timedelta(days=12)
    EntitlementFactory(user=user, current_period_end=ends, cancel_at_period_end=True)

    body = status_of(api, user)

    assert body["plan"] == "pro"
    assert body["status"] == "active"
    assert body["source"] == "stripe"
    assert body["cancel_at_period_end"] is True
    assert body["has_active_subscription"] is True
    assert body["current_period_end"].endswith("Z")
    assert body["current_period_end"].startswith(ends.strftime("%Y-%m-%dT%H:%M:%S"))


def test_enterprise_granted_by_hand_beats_a_pro_subscription(api, user, staff):
    EntitlementFactory(user=user, plan="pro")
    entitlement_grant_manual(user=user, plan="enterprise", granted_by=staff)

    body = status_of(api, user)

    assert (body["plan"], body["source"], body["status"]) == ("enterprise", "manual", "active")
    assert body["current_period_end"] is None


def test_of_two_entitlements_of_one_plan_the_longer_one_decides(api, user):
    soon = timezone.now() + timedelta(days=3)
    later = timezone.now() + timedelta(days=300)
    EntitlementFactory(user=user, source="apple", current_period_end=soon)
    EntitlementFactory(user=user, source="google", current_period_end=later)

    assert status_of(api, user)["source"] == "google"


@pytest.mark.parametrize("status", ["canceled", "expired"])
def test_ended_entitlements_are_ignored(api, user, status):
    EntitlementFactory(user=user, plan="enterprise", status=status)
    EntitlementFactory(user=user, plan="pro", source="apple", status="active")

    body = status_of(api, user)

    assert (body["plan"], body["source"]) == ("pro", "apple")


@pytest.mark.parametrize("status", ["trialing", "past_due", "grace"])
def test_trials_and_payments_being_retried_keep_the_plan(api, user, status):
    EntitlementFactory(user=user, status=status)

    body = status_of(api, user)

    assert (body["plan"], body["status"], body["has_active_subscription"]) == (
        "pro",
        status,
        True,
    )


def test_a_store_subscription_past_its_period_end_keeps_access_for_a_day(api, user):
    EntitlementFactory(user=user, current_period_end=timezone.now() - timedelta(hours=2))
    late = UserFactory()
    EntitlementFactory(user=late, current_period_end=timezone.now() - timedelta(days=2))

    assert status_of(api, user)["plan"] == "pro"
    assert status_of(api, late)["plan"] == "free"


def test_a_manual_grant_ends_at_its_end(api, user, staff):
    EntitlementFactory(
        user=user,
        source="manual",
        external_id="manual_over",
        current_period_end=timezone.now() - timedelta(minutes=1),
    )

    assert status_of(api, user)["plan"] == "free"


def test_another_users_entitlement_is_not_mine(api, user, other_user):
    EntitlementFactory(user=other_user, plan="enterprise")

    assert status_of(api, user)["plan"] == "free"


def test_user_fields_and_users_me_follow_at_once(api, user, staff):
    client = api.as_user(user)
    for _ in range(3):  # the user is now cached
        assert client.get(ME_URL).json()["subscription_plan"] == "free"

    def subscription() -> tuple[str, str]:
        me = client.get(ME_URL).json()
        return me["subscription_plan"], me["subscription_status"]

    def stripe(status: str) -> None:
        entitlement_upsert(
            user=user,
            source="stripe",
            external_id="sub_follow",
            product_id="price_pro_monthly",
            plan="pro",
            status=status,
        )

    stripe("trialing")
    assert subscription() == ("pro", "trialing")

    grant = entitlement_grant_manual(user=user, plan="enterprise", granted_by=staff)
    assert subscription() == ("enterprise", "active")

    entitlement_revoke(entitlement=grant)
    assert subscription() == ("pro", "trialing")

    stripe("canceled")
    assert subscription() == ("free", "none")
    user.refresh_from_db()
    assert (user.subscription_plan, user.subscription_status) == ("free", "none")
    assert status_of(api, user)["plan"] == "free"


def test_status_runs_constant_queries(api, user, django_assert_max_num_queries):
    EntitlementFactory.create_batch(5, user=user)
    EntitlementFactory(user=user, plan="enterprise", source="manual", external_id="manual_1")
    client = api.as_user(user)
    client.get(STATUS_URL)  # records the login
    client.get(STATUS_URL)  # caches the user

    with django_assert_max_num_queries(1):
        response = client.get(STATUS_URL)

    assert response.json()["plan"] == "enterprise"


def test_status_requires_a_token(api):
    response = api.get(STATUS_URL)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"
