"""The staff dashboard on the admin's index: figures that match the data, a bounded number of
queries, a short cache with a refresh link, links the admin accepts, dependencies that are down,
and sections only for staff who may see them."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django_celery_results.models import TaskResult
from freezegun import freeze_time

from accounts.models import User
from ai.models import AIUsage
from billing.models import Entitlement
from config.celery import app as celery_app
from notifications.models import EmailMessage
from tests.billing.factories import EntitlementFactory
from tests.factories import UserFactory
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

# The middle of a month, so that "today" and "earlier this month" both exist.
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
DASHBOARD_TABLES = (
    "webhook_events",
    "email_messages",
    "ai_usage",
    "entitlements",
    "django_celery_results_taskresult",
)


def figure(html: str, element_id: str) -> str:
    """The data-value of the element with `element_id` (the figure's raw value)."""
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*?data-value="([^"]*)"', html)
    assert match, f"no figure #{element_id} on the page"
    return match.group(1)


def status_of(html: str, element_id: str) -> str:
    match = re.search(rf'id="{re.escape(element_id)}"[^>]*?data-status="([^"]*)"', html)
    assert match, f"no status #{element_id} on the page"
    return match.group(1)


def sign_in(client: Any) -> User:
    admin = User.objects.create_superuser("staff@example.com", "a-long-staff-password-1")
    client.force_login(admin)
    return admin


def user(created: timedelta, last_login: timedelta | None = None, **fields: Any) -> User:
    """A customer created `created` ago, last signed in `last_login` ago (or never)."""
    person = cast(User, UserFactory(**fields))
    User.objects.filter(pk=person.pk).update(
        created_at=timezone.now() - created,
        last_login_at=timezone.now() - last_login if last_login is not None else None,
    )
    person.refresh_from_db()
    return person


def webhook(status: str, *, received: timedelta, updated: timedelta | None = None) -> None:
    event = WebhookEvent.objects.create(
        provider="stripe",
        event_id=f"evt_{WebhookEvent.objects.count()}",
        event_type="customer.subscription.updated",
        payload={},
        status=status,
        received_at=timezone.now() - received,
    )
    if updated is not None:
        WebhookEvent.objects.filter(pk=event.pk).update(updated_at=timezone.now() - updated)


def email(status: str, *, updated: timedelta = timedelta(0)) -> None:
    message = EmailMessage.objects.create(
        to="someone@example.com", template="welcome", subject="Hi", text_body="Hi", status=status
    )
    EmailMessage.objects.filter(pk=message.pk).update(updated_at=timezone.now() - updated)


def ai_call(person: User, provider: str, tokens: int, cost: str, when: datetime) -> None:
    AIUsage.objects.create(
        user=person,
        endpoint="chat",
        provider=provider,
        model="m",
        total_tokens=tokens,
        cost_estimate=Decimal(cost),
        created_at=when,
    )


def task(status: str, done: timedelta, number: int) -> None:
    result = TaskResult.objects.create(
        task_id=f"task-{number}", task_name="webhooks.tasks.process_webhook_event", status=status
    )
    # date_done is written on every save: set it past by an update.
    TaskResult.objects.filter(pk=result.pk).update(date_done=timezone.now() - done)


@pytest.fixture
def frozen() -> Iterator[None]:
    with freeze_time(NOW):
        yield


@pytest.fixture
def seeded(frozen, settings) -> dict[str, User]:
    """Known data as of NOW (time frozen there for the test)."""
    settings.BILLING_MONTHLY_PRICE_CENTS = {"pro": 1900, "enterprise": 50000}
    people = {
        # new in 7 and 30 days, active
        "recent": user(timedelta(days=2), timedelta(days=1)),
        # new in 30 days, not signed in for 40 days
        "dormant": user(timedelta(days=10), timedelta(days=40)),
        # signed in lately but deactivated: not active
        "deactivated": user(timedelta(days=60), timedelta(days=5), is_active=False),
        # old, never signed in
        "old": user(timedelta(days=100)),
        # today, signed in now
        "today": user(timedelta(0), timedelta(0)),
    }
    # Staff are not customers: not counted.
    user(timedelta(days=1), timedelta(0), is_staff=True)

    def grant(person: str, **fields: Any) -> None:
        EntitlementFactory(user=people[person], **fields)

    grant("recent")  # stripe pro
    grant("dormant")  # stripe pro
    grant("recent", status=Entitlement.Status.TRIALING)  # stripe pro, trial: not in MRR
    grant("deactivated", source=Entitlement.Source.APPLE)  # apple pro
    grant("old", source=Entitlement.Source.GOOGLE, plan=Entitlement.Plan.ENTERPRISE)
    grant("today", source=Entitlement.Source.MANUAL, current_period_end=None)  # not in MRR
    grant("dormant", status=Entitlement.Status.CANCELED)  # grants nothing
    grant("old", plan=Entitlement.Plan.FREE)  # not a paid plan
    grant("today", current_period_end=timezone.now() - timedelta(days=3))  # lapsed

    webhook(WebhookEvent.Status.RECEIVED, received=timedelta(hours=3))
    webhook(WebhookEvent.Status.PROCESSING, received=timedelta(hours=1))
    webhook(WebhookEvent.Status.FAILED, received=timedelta(hours=30), updated=timedelta(hours=2))
    webhook(WebhookEvent.Status.FAILED, received=timedelta(hours=5), updated=timedelta(hours=4))
    webhook(WebhookEvent.Status.FAILED, received=timedelta(days=4), updated=timedelta(days=3))
    webhook(WebhookEvent.Status.PROCESSED, received=timedelta(days=9))

    email(EmailMessage.Status.FAILED, updated=timedelta(hours=1))
    email(EmailMessage.Status.FAILED, updated=timedelta(hours=20))
    email(EmailMessage.Status.FAILED, updated=timedelta(days=2))
    for _ in range(3):
        email(EmailMessage.Status.QUEUED)
    email(EmailMessage.Status.SENT)

    task("FAILURE", timedelta(hours=1), 1)
    task("FAILURE", timedelta(hours=23), 2)
    task("FAILURE", timedelta(days=2), 3)
    task("SUCCESS", timedelta(hours=1), 4)

    today = NOW.replace(hour=0)
    ai_call(people["recent"], "openai", 100, "0.0100", today + timedelta(hours=9))
    ai_call(people["recent"], "openai", 1000, "0.2000", today - timedelta(days=10))
    ai_call(people["dormant"], "anthropic", 200, "0.5000", today + timedelta(hours=10))
    ai_call(people["old"], "echo", 50, "0", today - timedelta(days=13))
    ai_call(people["deactivated"], "openai", 5000, "9.0000", today - timedelta(days=15))
    return people


def test_the_figures_match_the_data(client, seeded):
    sign_in(client)
    response = client.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()

    assert figure(html, "users-total") == "5"
    assert figure(html, "users-active") == "2"
    assert figure(html, "users-new-7d") == "2"
    assert figure(html, "users-new-30d") == "3"
    assert 'data-label="2026-11-15" data-value="1"' in html
    assert 'data-label="2026-11-13" data-value="1"' in html
    assert 'data-label="2026-11-05" data-value="1"' in html
    assert html.count('class="chart-bar"') == 30

    # 3 pro from stores at 19.00 and 1 enterprise at 500.00; trial and manual grant not billed.
    assert figure(html, "revenue-mrr") == "55700"
    assert "557.00 USD" in html
    assert figure(html, "revenue-subscriptions") == "6"
    assert figure(html, "revenue-plan-pro") == "5"
    assert figure(html, "revenue-plan-enterprise") == "1"
    assert figure(html, "revenue-source-stripe") == "3"
    assert figure(html, "revenue-source-apple") == "1"
    assert figure(html, "revenue-source-google") == "1"
    assert figure(html, "revenue-source-manual") == "1"

    assert figure(html, "webhooks-pending") == "2"
    assert figure(html, "webhooks-failed-24h") == "2"
    assert figure(html, "webhooks-oldest-age") == str(3 * 3600)
    assert "3 h 0 min" in html

    assert figure(html, "emails-failed-24h") == "2"
    assert figure(html, "emails-failed-total") == "3"
    assert figure(html, "emails-queued") == "3"

    # Tasks run eagerly in tests: no broker, no queue to measure.
    assert figure(html, "tasks-queued") == ""
    assert figure(html, "tasks-failed-24h") == "2"

    assert figure(html, "ai-tokens-today") == "300"
    assert figure(html, "ai-cost-today") == "0.5100"
    assert figure(html, "ai-tokens-month") == "1350"
    assert figure(html, "ai-cost-month") == "0.7100"
    openai = re.search(r'<tr id="ai-provider-openai".*?</tr>', html)
    assert openai, html
    assert re.findall(r'data-field="\w+">([^<]*)<', openai.group(0)) == [
        "100",
        "0.0100",
        "1,100",
        "0.2100",
    ]
    top = re.findall(r'<tr data-user-id="([^"]+)" data-cost="([^"]+)"', html)
    assert top == [
        (seeded["dormant"].pk, "0.5000"),
        (seeded["recent"].pk, "0.2100"),
        (seeded["old"].pk, "0.0000"),
    ]
    page = reverse("admin:accounts_user_change", args=[quote(seeded["dormant"].pk)])
    assert f'href="{page}"' in html
    assert client.get(page).status_code == 200

    assert status_of(html, "health-database") == "ok"
    assert status_of(html, "health-broker") == "not configured"
    assert 'id="dashboard-as-of" datetime="2026-11-15T12:00:00+00:00">12:00:00 UTC' in html


def test_each_link_opens_the_list_of_the_rows_behind_its_figure(client, seeded):
    sign_in(client)
    html = client.get("/admin/").content.decode()
    expected = {
        "webhooks-pending-link": 2,
        "webhooks-failed-link": 2,
        "webhooks-oldest-link": 2,
        "emails-failed-24h-link": 2,
        "emails-failed-link": 3,
        "emails-queued-link": 3,
        "tasks-failed-link": 2,
    }
    for link_id, count in expected.items():
        match = re.search(rf'id="{link_id}" href="([^"]+)"', html)
        assert match, link_id
        url = match.group(1).replace("&amp;", "&")
        response = client.get(url)
        # A filter the admin refuses redirects to ?e=1 instead.
        assert response.status_code == 200, (link_id, url, response.get("Location"))
        assert response.context["cl"].result_count == count, (link_id, url)
    oldest = re.search(r'id="webhooks-oldest-link" href="([^"]+)"', html)
    assert oldest
    listed = client.get(oldest.group(1).replace("&amp;", "&")).context["cl"].result_list
    assert [event.status for event in listed] == ["received", "processing"]


def test_the_page_runs_a_bounded_number_of_queries(client, django_assert_max_num_queries):
    sign_in(client)

    def seed(count: int) -> None:
        people = UserFactory.create_batch(count)
        for index, person in enumerate(people):
            EntitlementFactory(user=person, source=list(Entitlement.Source)[index % 4])
            ai_call(person, f"provider-{index % 3}", 10, "0.01", timezone.now())
            webhook(WebhookEvent.Status.FAILED, received=timedelta(hours=1))
            email(EmailMessage.Status.FAILED)

    seed(2)
    with django_assert_max_num_queries(16) as few:
        assert client.get("/admin/?refresh=1").status_code == 200
    seed(40)
    with django_assert_max_num_queries(16) as many:
        response = client.get("/admin/?refresh=1")
    assert figure(response.content.decode(), "users-total") == "42"
    assert len(many) == len(few)


def test_the_figures_are_cached_briefly_and_refresh_recomputes(client, settings):
    settings.DASHBOARD_CACHE_SECONDS = 60
    sign_in(client)
    UserFactory()
    first = client.get("/admin/").content.decode()
    assert figure(first, "users-total") == "1"
    UserFactory()

    with CaptureQueriesContext(connection) as captured:
        cached = client.get("/admin/").content.decode()
    assert figure(cached, "users-total") == "1"
    assert re.findall(r'datetime="([^"]+)"', cached) == re.findall(r'datetime="([^"]+)"', first)
    queries = " ".join(query["sql"] for query in captured)
    assert not any(table in queries for table in DASHBOARD_TABLES), queries
    assert "COUNT(" not in queries.upper(), queries

    refreshed = client.get("/admin/?refresh=1").content.decode()
    assert figure(refreshed, "users-total") == "2"


def test_the_figures_are_computed_again_once_the_cache_expires(client, settings):
    settings.DASHBOARD_CACHE_SECONDS = 1
    sign_in(client)
    assert figure(client.get("/admin/").content.decode(), "users-total") == "0"
    UserFactory()
    time.sleep(1.5)
    assert figure(client.get("/admin/").content.decode(), "users-total") == "1"


def test_without_a_cache_every_view_computes(client, settings):
    settings.DASHBOARD_CACHE_SECONDS = 0
    sign_in(client)
    assert figure(client.get("/admin/").content.decode(), "users-total") == "0"
    UserFactory()
    assert figure(client.get("/admin/").content.decode(), "users-total") == "1"


def test_redis_and_the_broker_down_still_render_and_show_down(client, settings, monkeypatch):
    closed = "redis://127.0.0.1:1/0"
    sign_in(client)
    settings.REDIS_URL = closed
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": closed,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 1, "SOCKET_TIMEOUT": 1},
        }
    }
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setitem(celery_app.conf, "broker_url", closed)
    UserFactory()

    response = client.get("/admin/")

    assert response.status_code == 200
    html = response.content.decode()
    assert status_of(html, "health-database") == "ok"
    assert status_of(html, "health-cache") == "down"
    assert status_of(html, "health-broker") == "down"
    assert figure(html, "tasks-queued") == ""
    assert "n/a" in html
    # The figures are computed all the same (nothing could be cached).
    assert figure(html, "users-total") == "1"


def test_the_broker_queue_length_is_read_from_redis(client, settings, monkeypatch):
    redis_url = settings.REDIS_URL
    if not redis_url:
        pytest.skip("needs Redis (REDIS_URL)")
    from redis import Redis

    queue = "dashboard-test-queue"
    monkeypatch.setitem(celery_app.conf, "task_always_eager", False)
    monkeypatch.setitem(celery_app.conf, "broker_url", redis_url)
    monkeypatch.setitem(celery_app.conf, "task_default_queue", queue)
    broker = Redis.from_url(redis_url)
    broker.delete(queue)
    broker.rpush(queue, "a", "b", "c")
    try:
        sign_in(client)
        html = client.get("/admin/").content.decode()
    finally:
        broker.delete(queue)
    assert figure(html, "tasks-queued") == "3"
    assert status_of(html, "health-broker") == "ok"
    assert status_of(html, "health-cache") == "ok"


def test_staff_see_only_the_sections_they_may_view(client):
    clerk = User.objects.create_user("clerk@example.com", "a-long-staff-password-1", is_staff=True)
    clerk.user_permissions.add(
        Permission.objects.get(codename="view_webhookevent", content_type__app_label="webhooks")
    )
    client.force_login(clerk)
    UserFactory()

    html = client.get("/admin/").content.decode()

    assert figure(html, "webhooks-pending") == "0"
    for hidden in (
        "users-total",
        "revenue-mrr",
        "emails-queued",
        "tasks-failed-24h",
        "ai-cost-month",
    ):
        assert f'id="{hidden}"' not in html
    assert status_of(html, "health-database") == "ok"
