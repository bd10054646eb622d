"""Staff sign in to the console through the company's OIDC provider, in a real browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from accounts.models import User
from tests.browser.steps import sso_sign_in
from tests.oidc_provider import OIDCProvider

pytestmark = pytest.mark.browser


def test_sign_in_with_the_provider_lands_on_the_dashboard(page: Page, sso: OIDCProvider):
    # Someone outside the company is turned away with a reason, and signed in to nothing.
    sso.sign_in_as(sub="okta|eve", email="eve@elsewhere.test", groups=["console-admins"])
    page.goto("/admin/")
    page.get_by_role("link", name="Sign in with Okta").click()
    expect(page).to_have_url(re.compile(r"/admin/login/"))
    expect(page.locator("ul.messagelist")).to_contain_text("only company addresses")
    assert not User.objects.filter(email="eve@elsewhere.test").exists()

    sso.sign_in_as(sub="okta|ada", email="ada@example.com", groups=["console-admins"])
    sso_sign_in(page)

    expect(page.locator("#user-tools")).to_contain_text("ada@example.com")
    expect(page.locator("#console-dashboard")).to_be_visible()
    staff = User.objects.get(email="ada@example.com")
    assert (staff.pk, staff.is_staff, staff.is_superuser) == ("sso|okta|ada", True, True)
