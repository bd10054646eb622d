"""Without SSO configured, staff still sign in to the admin with their email and password."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User

pytestmark = pytest.mark.browser

PASSWORD = "a-long-staff-password-1"


def test_staff_sign_in_with_a_password_and_land_on_the_dashboard(page: Page, settings):
    settings.STAFF_SSO_ENABLED = False
    User.objects.create_superuser("staff@example.com", PASSWORD)

    page.goto("/admin/")
    expect(page).to_have_url(re.compile(r"/admin/login/\?next=/admin/$"))
    expect(page.get_by_role("link", name=re.compile("^Sign in with"))).to_have_count(0)
    page.fill("#id_username", "staff@example.com")
    page.fill("#id_password", "not-the-password")
    page.click("input[type=submit]")
    expect(page.locator(".errornote")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/admin/login/"))

    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")

    expect(page).to_have_url(re.compile(r"/admin/$"))
    expect(page.locator("#user-tools")).to_contain_text("staff@example.com")
    expect(page.locator("#console-dashboard")).to_be_visible()
    # The admin's stylesheets reach the browser (static files are served).
    for link in page.locator("link[rel=stylesheet]").all():
        href = link.get_attribute("href")
        assert href and page.request.get(href).ok, href
