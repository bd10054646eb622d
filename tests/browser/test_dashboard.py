"""The dashboard (the admin's index) shows figures that match the data, read by their HTML ids."""

from __future__ import annotations

from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from ai.models import AIUsage
from billing.models import Entitlement
from notifications.models import EmailMessage
from tests.billing.factories import EntitlementFactory
from tests.factories import UserFactory
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.browser

PRICES = {"pro": 1200, "enterprise": 9900}


def seed_users(now):
    """Six customers: three new today (two signed in lately), one 10 and one 20 days old, one
    45 days old and deactivated. The signed-in staff member is not a customer."""
    return [
        UserFactory(last_login_at=now - timedelta(hours=1)),
        UserFactory(last_login_at=now - timedelta(days=3)),
        UserFactory(),
        UserFactory(created_at=now - timedelta(days=10)),
        UserFactory(created_at=now - timedelta(days=20), last_login_at=now - timedelta(days=40)),
        UserFactory(
            created_at=now - timedelta(days=45), is_active=False, last_login_at=now - timedelta(2)
        ),
    ]


def seed_entitlements(customers, now):
    """Three paying (Stripe pro, App Store pro, Google Play enterprise), a manual grant and a
    trial (counted, not in MRR), and an expired subscription (not counted)."""
    Source, Status, Plan = Entitlement.Source, Entitlement.Status, Entitlement.Plan
    EntitlementFactory(user=customers[0])
    EntitlementFactory(user=customers[1], source=Source.APPLE, product_id="pro.monthly")
    EntitlementFactory(
        user=customers[2], source=Source.GOOGLE, product_id="enterprise", plan=Plan.ENTERPRISE
    )
    EntitlementFactory(user=customers[3], source=Source.MANUAL, current_period_end=None)
    EntitlementFactory(user=customers[4], status=Status.TRIALING)
    EntitlementFactory(
        user=customers[5], status=Status.EXPIRED, current_period_end=now - timedelta(days=60)
    )


def seed_webhooks(now):
    """Three pending (the oldest received two hours ago), one failed today and one two days ago,
    two processed."""
    rows = [
        ("received", now - timedelta(hours=2)),
        ("received", now),
        ("processing", now),
        ("failed", now),
        ("failed", now - timedelta(days=2)),
        ("processed", now),
        ("processed", now),
    ]
    for number, (status, received_at) in enumerate(rows):
        event = WebhookEvent.objects.create(
            provider="stripe",
            event_id=f"evt_{number}",
            event_type="invoice.paid",
            payload={},
            status=status,
            received_at=received_at,
        )
        WebhookEvent.objects.filter(pk=event.pk).update(updated_at=received_at)


def seed_emails(now):
    """Failed today, failed two days ago, one queued, one sent."""
    for status, updated_at in [
        ("failed", now),
        ("failed", now - timedelta(days=2)),
        ("queued", now),
        ("sent", now),
    ]:
        email = EmailMessage.objects.create(
            to="someone@example.com",
            template="welcome",
            subject="Hi",
            text_body="Hi",
            status=status,
        )
        EmailMessage.objects.filter(pk=email.pk).update(updated_at=updated_at)


def seed_ai_usage(customers, now):
    """AI calls today, earlier this month (today when it is the 1st) and 40 days ago; returns
    (provider, user, tokens, cost, when) rows."""
    month_start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = [
        ("openai", customers[0], 1000, Decimal("0.0100"), now),
        ("anthropic", customers[1], 500, Decimal("0.0250"), now),
        ("openai", customers[0], 2000, Decimal("0.0200"), month_start + timedelta(minutes=1)),
        ("openai", customers[2], 9999, Decimal("1.0000"), now - timedelta(days=40)),
    ]
    for provider, user, tokens, cost, when in rows:
        AIUsage.objects.create(
            user=user,
            endpoint=AIUsage.Endpoint.CHAT,
            provider=provider,
            model="a-model",
            total_tokens=tokens,
            cost_estimate=cost,
            created_at=when,
        )
    return rows, month_start


def figure(page: Page, element_id: str) -> str | None:
    return page.locator(f"#{element_id}").get_attribute("data-value")


def test_the_dashboard_figures_match_the_data(staff_page: Page, settings):
    settings.BILLING_MONTHLY_PRICE_CENTS = PRICES
    now = timezone.now()
    customers = seed_users(now)
    seed_entitlements(customers, now)
    seed_webhooks(now)
    seed_emails(now)
    ai_rows, month_start = seed_ai_usage(customers, now)

    staff_page.goto("/admin/")

    page = staff_page
    expect(page.locator("#console-dashboard")).to_be_visible()
    users = {key: figure(page, f"users-{key}") for key in ("total", "active", "new-7d", "new-30d")}
    assert users == {"total": "6", "active": "2", "new-7d": "3", "new-30d": "5"}
    expect(page.locator("#dashboard-users figcaption")).to_contain_text("5 in all")
    expect(page.locator("#users-signups-chart")).to_be_visible()

    # MRR: two pro subscriptions and one enterprise, at list price; not the trial nor the grant.
    assert figure(page, "revenue-mrr") == str(2 * PRICES["pro"] + PRICES["enterprise"])
    expect(page.locator("#revenue-mrr")).to_contain_text("123.00 USD")
    assert figure(page, "revenue-subscriptions") == "5"
    assert (figure(page, "revenue-plan-pro"), figure(page, "revenue-plan-enterprise")) == ("4", "1")
    by_source = {
        source: figure(page, f"revenue-source-{source}")
        for source in ("stripe", "apple", "google", "manual")
    }
    assert by_source == {"stripe": "2", "apple": "1", "google": "1", "manual": "1"}

    assert (figure(page, "webhooks-pending"), figure(page, "webhooks-failed-24h")) == ("3", "1")
    assert 7200 <= int(figure(page, "webhooks-oldest-age") or 0) < 7200 + 60
    expect(page.locator("#webhooks-oldest-age")).to_have_text("2 h 0 min")

    emails = [figure(page, f"emails-{name}") for name in ("failed-24h", "failed-total", "queued")]
    assert emails == ["1", "2", "1"]

    today_start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    today = [row for row in ai_rows if row[4] >= today_start]
    month = [row for row in ai_rows if row[4] >= month_start]
    assert figure(page, "ai-tokens-today") == str(sum(row[2] for row in today))
    assert figure(page, "ai-tokens-month") == str(sum(row[2] for row in month))
    assert figure(page, "ai-cost-today") == f"{sum(row[3] for row in today):.4f}"
    assert figure(page, "ai-cost-month") == f"{sum(row[3] for row in month):.4f}"
    openai_month = sum(row[2] for row in month if row[0] == "openai")
    shown = page.locator("#ai-provider-openai [data-field=tokens_month]").inner_text()
    assert int(shown.replace(",", "")) == openai_month  # shown with thousands separators
    top = page.locator("#ai-top-users tr[data-user-id]")
    assert top.evaluate_all("rows => rows.map(row => row.dataset.userId)") == [
        customers[0].pk,
        customers[1].pk,
    ]

    assert page.locator("#health-database").get_attribute("data-status") == "ok"

    # Each backlog figure opens the list of the rows behind it.
    page.locator("#webhooks-pending-link").click()
    expect(page.locator("#result_list tbody tr")).to_have_count(3)
