"""The Django admin: entitlements on a user's page (manual grants) and their own console."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from billing.models import Entitlement
from tests.billing.factories import EntitlementFactory
from tests.factories import UserFactory

CHANGELIST = "/admin/billing/entitlement/"
STATUS_URL = "/api/v1/app/billing/status"
ME_URL = "/api/v1/app/users/me"

pytestmark = pytest.mark.django_db


def user_form(user: User, *, rows: list[dict[str, str]], initial: int = 0) -> dict[str, str]:
    """The user change form as the browser posts it, with `rows` in the entitlements inline.

    `rows` lists every inline row's fields without the prefix; the first `initial` are existing.
    """
    data = {
        "email": user.email,
        "password": user.password,
        "full_name": user.full_name or "",
        "avatar_url": user.avatar_url or "",
        "role": user.role,
        "is_active": "on",
        "subscription_plan": user.subscription_plan,
        "subscription_status": user.subscription_status,
        # The inline formset's management form.
        "entitlements-TOTAL_FORMS": str(len(rows)),
        "entitlements-INITIAL_FORMS": str(initial),
        "entitlements-MIN_NUM_FORMS": "0",
        "entitlements-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data.update({f"entitlements-{index}-{name}": value for name, value in row.items()})
    return data


def test_staff_grant_a_plan_on_the_users_page(api, client, staff, user):
    client_api = api.as_user(user)
    for _ in range(3):  # the user is now cached
        assert client_api.get(ME_URL).json()["subscription_plan"] == "free"
    until = timezone.now() + timedelta(days=60)
    row = {
        "user": user.pk,
        "plan": "enterprise",
        "status": "active",
        "current_period_end_0": until.strftime("%Y-%m-%d"),
        "current_period_end_1": "12:00:00",
        "note": "Pilot customer",
    }

    response = client.post(f"/admin/accounts/user/{user.pk}/change/", user_form(user, rows=[row]))

    assert response.status_code == 302, response.context["errors"] if response.context else ""
    grant = Entitlement.objects.get(user=user)
    assert (grant.source, grant.plan, grant.status) == ("manual", "enterprise", "active")
    assert grant.external_id.startswith("manual_")
    assert grant.granted_by == staff
    assert grant.note == "Pilot customer"
    assert grant.current_period_end.date() == until.date()
    status = client_api.get(STATUS_URL).json()
    assert (status["plan"], status["source"]) == ("enterprise", "manual")
    assert (status["status"], status["has_active_subscription"]) == ("active", True)
    me = client_api.get(ME_URL).json()
    assert (me["subscription_plan"], me["subscription_status"]) == ("enterprise", "active")


def test_a_grant_ending_in_the_past_is_refused(client, staff, user):
    past = {
        "user": user.pk,
        "plan": "pro",
        "status": "active",
        "current_period_end_0": "2001-01-01",
        "current_period_end_1": "00:00:00",
    }

    response = client.post(f"/admin/accounts/user/{user.pk}/change/", user_form(user, rows=[past]))

    assert response.status_code == 200
    assert b"must end in the future" in response.content
    assert not Entitlement.objects.exists()


def test_a_grant_without_end_lasts_until_revoked(client, staff, user):
    row = {"user": user.pk, "plan": "pro", "status": "active"}

    response = client.post(f"/admin/accounts/user/{user.pk}/change/", user_form(user, rows=[row]))

    assert response.status_code == 302
    grant = Entitlement.objects.get()
    assert (grant.source, grant.current_period_end) == ("manual", None)
    user.refresh_from_db()
    assert (user.subscription_plan, user.subscription_status) == ("pro", "active")


def test_users_page_lists_entitlements_of_every_source(client, staff, user):
    EntitlementFactory(user=user, external_id="sub_visible")
    EntitlementFactory(
        user=user, source="apple", external_id="2000000999", product_id="com.example.pro.apple"
    )
    EntitlementFactory(
        user=user, source="google", external_id="play-token-1", product_id="pro_android"
    )

    page = client.get(f"/admin/accounts/user/{user.pk}/change/")

    assert page.status_code == 200
    for shown in (b"sub_visible", b"2000000999", b"com.example.pro.apple", b"play-token-1"):
        assert shown in page.content, shown
    for source in (b"Stripe", b"Apple App Store", b"Google Play"):
        assert source in page.content, source


def test_editing_an_inline_row_resyncs_the_plan(client, staff, user):
    entitlement = EntitlementFactory(user=user, plan="pro", current_period_end=None)
    row = {
        "id": str(entitlement.pk),
        "user": user.pk,
        "plan": "pro",
        "status": "canceled",
        "current_period_end_0": "",
        "current_period_end_1": "",
    }
    user.subscription_plan, user.subscription_status = "pro", "active"

    response = client.post(
        f"/admin/accounts/user/{user.pk}/change/", user_form(user, rows=[row], initial=1)
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.subscription_plan, user.subscription_status) == ("free", "none")
    assert not Entitlement.objects.filter(source="manual").exists()


def test_add_user_page_has_no_inline(client, staff):
    page = client.get("/admin/accounts/user/add/")

    assert page.status_code == 200
    assert b"entitlements-TOTAL_FORMS" not in page.content


def test_changelist_searches_and_filters(client, staff):
    ada = UserFactory(email="ada@example.com")
    EntitlementFactory(user=ada, external_id="sub_ada")
    EntitlementFactory(source="google", external_id="token-google-1", status="grace")

    by_email = client.get(CHANGELIST, {"q": "ada@example"})
    by_external_id = client.get(CHANGELIST, {"q": "token-google"})
    by_status = client.get(CHANGELIST, {"status__exact": "grace"})
    by_source = client.get(CHANGELIST, {"source__exact": "stripe"})

    assert b"ada@example.com" in by_email.content
    assert b"grace" in by_external_id.content and b"ada@example.com" not in by_external_id.content
    assert b"ada@example.com" not in by_status.content
    assert b"ada@example.com" in by_source.content
    assert client.get(f"{CHANGELIST}add/").status_code == 403


def test_changing_an_entitlement_in_its_console_syncs_the_user(client, staff, user):
    entitlement = EntitlementFactory(user=user, plan="pro")

    response = client.post(
        f"{CHANGELIST}{entitlement.pk}/change/",
        {
            "plan": "enterprise",
            "status": "past_due",
            "current_period_end_0": "",
            "current_period_end_1": "",
            "note": "Moved up after a call",
        },
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.subscription_plan, user.subscription_status) == ("enterprise", "past_due")


def test_deleting_entitlements_in_the_admin_syncs_their_users(client, staff, user, other_user):
    mine = EntitlementFactory(user=user, plan="enterprise", current_period_end=None)
    theirs = EntitlementFactory(user=other_user, plan="pro")
    for owner in (user, other_user):
        owner.subscription_plan = "pro"
        owner.subscription_status = "active"
        owner.save()

    one = client.post(f"{CHANGELIST}{mine.pk}/delete/", {"post": "yes"})
    bulk = client.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [str(theirs.pk)], "post": "yes"},
    )

    assert one.status_code == bulk.status_code == 302
    assert not Entitlement.objects.exists()
    for owner in (user, other_user):
        owner.refresh_from_db()
        assert (owner.subscription_plan, owner.subscription_status) == ("free", "none")
