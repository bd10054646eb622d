"""A staff member's session, start to end, and its trail in the audit log: the SSO sign-in, an
impersonation (its start, each request made with its token, its end) and a flag switched on."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from django.urls import reverse
from playwright.sync_api import Locator, Page, expect

from accounts.models import Impersonation
from accounts.tokens import mint_development_token
from flags.models import Flag
from tests.browser.steps import (
    api_call,
    flag_save,
    impersonation_end,
    impersonation_start,
    make_user,
    sso_sign_in,
    wait_for_flags,
)
from tests.oidc_provider import OIDCProvider

pytestmark = pytest.mark.browser

COLUMNS = ("action", "actor_name", "impersonator_name", "target_type", "target_id")


def rows(result_list: Locator) -> list[dict[str, str]]:
    """The audit list's rows on this page, newest first: the columns of COLUMNS."""
    return [
        {column: row.locator(f".field-{column}").inner_text().strip() for column in COLUMNS}
        for row in result_list.locator("tbody tr").all()
    ]


def choose_filter(page: Page, title: str, choice: str) -> None:
    """Pick `choice` in the list filter titled `title` (the admin's sidebar)."""
    section = page.locator(f'#changelist-filter details[data-filter-title="{title}"]')
    section.get_by_role("link", name=choice, exact=True).click()


def test_the_audit_log_shows_the_whole_session(page: Page, sso: OIDCProvider, live_server):
    customer = make_user(email="customer@example.com")
    customer_token = mint_development_token(email=customer.email, subject=customer.pk)

    sso_sign_in(page)
    token = impersonation_start(page, customer, reason="Ticket 4711", minutes=30)
    assert api_call(live_server.url, "GET", "/api/v1/app/users/me", token=token)[0] == 200
    write = api_call(
        live_server.url, "PATCH", "/api/v1/app/users/me", token=token, body={"full_name": "X"}
    )
    assert write[0] == 403
    impersonation_end(page)
    flag_save(page, "new-editor", everyone="Off for everyone", create=True)
    flag_save(page, "new-editor", everyone="On for everyone")
    assert wait_for_flags(live_server.url, token=customer_token, key="new-editor", expected=True)

    session = Impersonation.objects.get()
    flag = Flag.objects.get(key="new-editor")
    staff = "ada@example.com"

    # What Ada did herself: filtered by the staff member acting.
    page.goto(reverse("admin:audit_auditevent_changelist"))
    choose_filter(page, "staff member acting", staff)
    expect(page).to_have_url(re.compile(r"actor__id__exact="))
    by_ada = rows(page.locator("#result_list"))
    assert [(row["action"], row["target_type"], row["target_id"]) for row in by_ada] == [
        ("admin.change", "flags.flag", str(flag.pk)),
        ("admin.add", "flags.flag", str(flag.pk)),
        ("impersonation.end", "user", customer.pk),
        ("impersonation.start", "user", customer.pk),
        ("staff.sign_in", "user", "sso|okta|ada"),
    ]
    assert {row["actor_name"] for row in by_ada} == {staff}

    # The requests made with the token: the customer as actor, Ada as impersonator.
    page.goto(reverse("admin:audit_auditevent_changelist"))
    choose_filter(page, "action", "impersonation.request")
    requests = rows(page.locator("#result_list"))
    assert [(row["actor_name"], row["impersonator_name"]) for row in requests] == [
        ("customer@example.com", staff),
        ("customer@example.com", staff),
    ]
    assert {row["target_id"] for row in requests} == {str(session.pk)}

    # The flag's page links to its own history: the add and the change, with the switch.
    page.goto(reverse("admin:flags_flag_change", args=[flag.pk]))
    page.get_by_role("link", name="History (audit log)").click()
    expect(page).to_have_url(re.compile(r"/audit/auditevent/\?"))
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    history = rows(page.locator("#result_list"))
    assert [row["action"] for row in history] == ["admin.change", "admin.add"]
    page.locator("#result_list tbody tr").first.locator("th a, td a").first.click()
    expect(page.locator(".field-changes")).to_contain_text('"everyone": ["off", "on"]')

    # The CSV export holds what the list shows, filtered the same way.
    page.goto(reverse("admin:audit_auditevent_changelist") + "?action__exact=impersonation.request")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    exported = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert [(row["action"], row["actor_id"]) for row in exported] == [
        ("impersonation.request", customer.pk),
        ("impersonation.request", customer.pk),
    ]
    changes = [json.loads(row["changes"]) for row in exported]
    assert sorted(change["method"][1] for change in changes) == ["GET", "PATCH"]
