"""The daily usage report: yesterday's figures, one email per staff recipient, once a day."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import User
from ai.models import AIUsage
from billing.models import Entitlement
from console.tasks import send_daily_report
from notifications.models import EmailMessage
from tests.billing.factories import EntitlementFactory
from tests.factories import UserFactory
from usage.models import UsageCounter
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def yesterday_data() -> None:
    now = timezone.now()
    yesterday = now - timedelta(days=1)
    day = yesterday.date()
    new = UserFactory.create_batch(3)
    User.objects.filter(pk__in=[u.pk for u in new]).update(created_at=yesterday)
    UserFactory()  # created today: not counted
    EntitlementFactory.create_batch(2)  # stripe pro
    EntitlementFactory(source=Entitlement.Source.APPLE, plan=Entitlement.Plan.ENTERPRISE)
    EntitlementFactory(status=Entitlement.Status.CANCELED)  # grants nothing
    for user, metric, value in (
        (new[0], "api_requests", 120),
        (new[1], "api_requests", 30),
        (new[0], "ai_tokens", 5000),
        (new[0], "emails_sent", 2),
    ):
        UsageCounter.objects.create(user=user, metric=metric, day=day, value=value)
    UsageCounter.objects.create(
        user=new[0], metric="api_requests", day=day - timedelta(days=1), value=999
    )
    for provider, cost, success in (
        ("openai", "0.0125", True),
        ("openai", "0.0300", False),
        ("anthropic", "0.5000", True),
    ):
        AIUsage.objects.create(
            user=new[0],
            endpoint="chat",
            provider=provider,
            model="m",
            total_tokens=100,
            success=success,
            cost_estimate=Decimal(cost),
            created_at=yesterday,
        )
    AIUsage.objects.create(
        user=new[0], endpoint="chat", provider="openai", model="m", cost_estimate=Decimal(9)
    )
    WebhookEvent.objects.create(
        provider="stripe",
        event_id="evt_1",
        event_type="x",
        payload={},
        raw_body="{}",
        status=WebhookEvent.Status.FAILED,
        received_at=yesterday,
    )
    WebhookEvent.objects.create(
        provider="clerk",
        event_id="evt_2",
        event_type="x",
        payload={},
        raw_body="{}",
        status=WebhookEvent.Status.FAILED,
        received_at=now - timedelta(days=5),
    )


def test_staff_get_yesterdays_report(yesterday_data, django_capture_on_commit_callbacks):
    staff = [
        User.objects.create_user("ops1@example.com", is_staff=True),
        User.objects.create_user("ops2@example.com", is_staff=True),
    ]
    User.objects.create_user("gone@example.com", is_staff=True, is_active=False)

    with django_capture_on_commit_callbacks(execute=True):
        assert send_daily_report.delay().get() == 2

    assert sorted(message.to[0] for message in mail.outbox) == [u.email for u in staff]
    day = (timezone.now() - timedelta(days=1)).date().isoformat()
    report = mail.outbox[0]
    assert report.subject == f"Groundwork daily report for {day}"
    text = report.body
    assert "New users: 3\n" in text
    assert "Active subscriptions: 3\n" in text
    assert "  enterprise via apple: 1\n" in text
    assert "  pro via stripe: 2\n" in text
    assert "  api_requests: 150\n" in text
    assert "  ai_tokens: 5000\n" in text
    assert "  emails_sent: 2\n" in text
    assert "AI: 3 requests (1 failed), 300 tokens, 0.5425 USD" in text
    assert "  anthropic: 1 requests, 100 tokens, 0.5000 USD" in text
    assert f"Webhook events failed on {day}: 1\n" in text
    assert "  clerk: 1\n" in text and "  stripe: 1\n" in text
    html = report.alternatives[0][0]
    assert "<strong>0.5425 USD</strong>" in html
    assert EmailMessage.objects.filter(template="daily_report", status="sent").count() == 2


def test_the_report_goes_once_per_day_to_the_configured_addresses(
    settings, django_capture_on_commit_callbacks
):
    settings.STAFF_REPORT_EMAILS = ["reports@example.com"]
    User.objects.create_user("ops@example.com", is_staff=True)
    with django_capture_on_commit_callbacks(execute=True):
        assert send_daily_report.delay().get() == 1
        assert send_daily_report.delay().get() == 0  # run twice: nothing more
    assert [message.to for message in mail.outbox] == [["reports@example.com"]]
    assert "New users: 0\n" in mail.outbox[0].body  # ops@ was created today
