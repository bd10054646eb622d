"""Impersonation from a user's page: a read-only token that acts as the user, until ended."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Impersonation
from tests.browser.steps import (
    api_call,
    impersonation_end,
    impersonation_start,
    make_user,
    user_page_url,
)

pytestmark = pytest.mark.browser


def test_start_use_and_end_an_impersonation(staff_page: Page, live_server, superuser):
    # Staff accounts are never impersonated: their page offers no button.
    colleague = make_user(email="colleague@example.com", is_staff=True)
    staff_page.goto(user_page_url(colleague))
    expect(staff_page.locator("#content-main")).to_be_visible()
    expect(staff_page.get_by_role("link", name="Impersonate")).to_have_count(0)
    customer = make_user(email="customer@example.com", full_name="Casey Customer")

    token = impersonation_start(staff_page, customer, reason="Ticket 4711", minutes=15)

    status, me = api_call(live_server.url, "GET", "/api/v1/app/users/me", token=token)
    assert status == 200, me
    assert (me["id"], me["email"]) == (customer.pk, "customer@example.com")
    status, refused = api_call(
        live_server.url, "PATCH", "/api/v1/app/users/me", token=token, body={"full_name": "X"}
    )
    assert status == 403, refused
    customer.refresh_from_db()
    assert customer.full_name == "Casey Customer"

    impersonation_end(staff_page)

    expect(staff_page).to_have_url(f"{live_server.url}{user_page_url(customer)}")
    status, ended = api_call(live_server.url, "GET", "/api/v1/app/users/me", token=token)
    assert status == 401, ended
    session = Impersonation.objects.get()
    assert (session.staff, session.user, session.reason) == (superuser, customer, "Ticket 4711")
    assert session.ended_by == superuser
    assert 14 <= (session.expires_at - session.created_at).total_seconds() / 60 <= 15
