"""What staff do in the console, step by step in the browser, and plain API calls with a token."""

from __future__ import annotations

import json
import re
from typing import Any, cast

from django.contrib.admin.utils import quote
from django.urls import reverse
from playwright.sync_api import Page, expect

from accounts.models import User
from tests.factories import UserFactory
from tests.live import request
from tests.processes import wait_for


def make_user(**fields: Any) -> User:
    """A user row as the factories make it (a product user unless `fields` say otherwise)."""
    return cast(User, UserFactory(**fields))


def api_call(
    base_url: str, method: str, path: str, *, token: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """Call the live server's API as any client would (no browser cookies): (status, JSON)."""
    status, _, raw = request(
        method,
        f"{base_url}{path}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        body=json.dumps(body).encode() if body is not None else None,
    )
    return status, json.loads(raw) if raw else None


def wait_for_flags(
    base_url: str, *, token: str, key: str, expected: bool | None, within: float = 5.0
) -> dict[str, bool]:
    """GET /flags until `key` is `expected` (None: not listed), for at most `within` seconds:
    flag changes reach every process "within seconds", not at once."""

    def answered() -> tuple[dict[str, bool], ...]:
        status, body = api_call(base_url, "GET", "/api/v1/app/flags", token=token)
        assert status == 200, body
        flags: dict[str, bool] = body["flags"]
        return (flags,) if flags.get(key) == expected else ()  # () keeps waiting

    (flags,) = wait_for(
        answered, what=f"/flags to answer {key}={expected}", timeout=within, interval=0.2
    )
    return flags


def user_page_url(user: User) -> str:
    """The user's page in the admin (its id may hold characters the admin quotes)."""
    return reverse("admin:accounts_user_change", args=[quote(user.pk)])


def impersonation_start(page: Page, user: User, *, reason: str, minutes: int) -> str:
    """From the user's page, start a read-only impersonation; returns the token shown once."""
    page.goto(user_page_url(user))
    page.get_by_role("link", name="Impersonate").click()
    page.get_by_label("Reason").fill(reason)
    page.get_by_label("Duration").fill(str(minutes))
    page.get_by_role("button", name="Get a token").click()
    token = page.locator("#impersonation-token").input_value().strip()
    assert token.count(".") == 2, f"not a JWT: {token!r}"
    return token


def impersonation_end(page: Page) -> None:
    """On the token page, end the session now; back on the user's page with a confirmation."""
    page.get_by_role("button", name="End").click()
    expect(page.locator("ul.messagelist")).to_contain_text("ended")


def flag_save(page: Page, key: str, *, everyone: str, create: bool = False) -> None:
    """Create the flag `key`, or change it, in the admin: who gets it (`everyone`, the option's
    label), then Save; back on the list of flags."""
    if create:
        page.goto(reverse("admin:flags_flag_add"))
        page.get_by_label("Key").fill(key)
    else:
        page.goto(reverse("admin:flags_flag_changelist"))
        page.locator("#result_list").get_by_role("link", name=key, exact=True).click()
    page.get_by_label("Everyone").select_option(label=everyone)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("ul.messagelist")).to_contain_text(key)


def sso_sign_in(page: Page, *, provider_name: str = "Okta") -> None:
    """Open the admin, click "Sign in with <provider>" (no password form is offered) and come
    back signed in on the admin's index through the provider's real redirects."""
    page.goto("/admin/")
    expect(page.locator("#id_password")).to_have_count(0)
    page.get_by_role("link", name=f"Sign in with {provider_name}").click()
    expect(page).to_have_url(re.compile(r"/admin/$"))
