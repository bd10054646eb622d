"""A flag created and switched in the admin changes what GET /api/v1/app/flags answers."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from accounts.tokens import mint_development_token
from tests.browser.steps import flag_save, make_user, wait_for_flags

pytestmark = pytest.mark.browser


def test_a_flag_switched_in_the_admin_reaches_the_api(staff_page: Page, live_server):
    customer = make_user()
    token = mint_development_token(email=customer.email, subject=customer.pk)
    assert "new-editor" not in wait_for_flags(
        live_server.url, token=token, key="new-editor", expected=None
    )

    flag_save(staff_page, "new-editor", everyone="Off for everyone", create=True)
    flags = wait_for_flags(live_server.url, token=token, key="new-editor", expected=False)
    assert flags.get("new-editor") is False

    flag_save(staff_page, "new-editor", everyone="On for everyone")
    flags = wait_for_flags(live_server.url, token=token, key="new-editor", expected=True)
    assert flags.get("new-editor") is True
    expect(staff_page.locator("#result_list")).to_contain_text("On for everyone")
