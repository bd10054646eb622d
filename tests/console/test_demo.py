"""`manage.py demo` and the start-up banner (`manage.py welcome`): a data set that fills the admin,
the same rows after a second run, a staff sign-in that works, and no demo outside development."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import User
from ai.models import AIUsage
from audit.models import AuditEvent
from billing.models import Entitlement
from billing.services import user_sync_subscription
from files.models import File
from flags.models import Flag
from notifications.models import EmailMessage, EmailSuppression
from projects.models import Project
from realtime.asgi import WEBSOCKET_PATH
from tests.config.test_settings import GOOD_PRODUCTION
from tests.live import run_manage
from usage.models import UsageCounter
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
MODELS = (
    User,
    Entitlement,
    Project,
    File,
    AIUsage,
    UsageCounter,
    WebhookEvent,
    EmailMessage,
    EmailSuppression,
    AuditEvent,
    Flag,
)


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    """The demo's uploads go to a temporary folder, never the repository's media/."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def staff_file(tmp_path: Path) -> Path:
    return tmp_path / ".demo-staff"


def demo(staff_file: Path) -> str:
    out = StringIO()
    call_command("demo", "--staff-file", str(staff_file), stdout=out)
    return out.getvalue()


def welcome(staff_file: Path, *args: str) -> str:
    out = StringIO()
    call_command("welcome", *args, "--staff-file", str(staff_file), stdout=out)
    return out.getvalue()


def sign_in_printed(output: str) -> tuple[str, str]:
    email = re.search(r"^\s+email\s+(\S+)$", output, re.M)
    password = re.search(r"^\s+password\s+(\S+)", output, re.M)
    assert email and password, output
    return email.group(1), password.group(1)


def counts() -> dict[str, int]:
    """Rows per model, soft-deleted projects included."""
    return {model.__name__: model._base_manager.count() for model in MODELS}


def paginator_count(html: str, plural: str) -> int:
    """The admin changelist's result count ("47 webhook events")."""
    match = re.search(rf"(\d+)\s+{re.escape(plural)}\b", html)
    assert match, f"no count of {plural} on the page"
    return int(match.group(1))


def test_a_second_run_finds_every_row_and_adds_none(staff_file):
    first_output = demo(staff_file)
    first = counts()

    second_output = demo(staff_file)

    assert counts() == first
    # The sign-in printed both times is the same and still the staff member's.
    assert sign_in_printed(second_output) == sign_in_printed(first_output)
    assert "kept" in second_output


def test_the_data_set_covers_every_plan_source_and_state(staff_file, media_root):
    demo(staff_file)
    now = timezone.now()

    customers = User.objects.filter(is_staff=False)
    assert customers.count() == 36
    assert customers.filter(is_active=False).exists()
    assert set(Entitlement.objects.values_list("source", flat=True)) == set(
        Entitlement.Source.values
    )
    plans = set(customers.values_list("subscription_plan", flat=True))
    assert plans == {"free", "pro", "enterprise"}
    assert customers.filter(entitlements__isnull=True).count() >= 5  # free users
    # The plan each customer has is the one their entitlements give (billing's own sync agrees).
    for user in customers:
        before = (user.subscription_plan, user.subscription_status)
        user_sync_subscription(user=user)
        assert (user.subscription_plan, user.subscription_status) == before

    assert Project.all_objects.filter(deleted_at__isnull=False).exists()
    assert Project.objects.count() > 30

    assert set(File.objects.values_list("status", flat=True)) == set(File.Status.values)
    storage = storages["default"]
    for file in File.objects.filter(status=File.Status.UPLOADED):
        assert storage.size(file.key) == file.size > 0
    assert str(media_root) in storage.path(File.objects.filter(status="uploaded").first().key)

    usage_times = AIUsage.objects.values_list("created_at", flat=True)
    assert AIUsage.objects.count() > 300
    assert all(now - timedelta(days=30) <= at <= now for at in usage_times)
    assert len({at.date() for at in usage_times}) > 20
    assert AIUsage.objects.filter(success=False).exists()
    tokens = sum(AIUsage.objects.values_list("total_tokens", flat=True))
    assert (
        sum(UsageCounter.objects.filter(metric="ai_tokens").values_list("value", flat=True))
        == tokens
    )

    assert set(WebhookEvent.objects.values_list("status", flat=True)) == set(
        WebhookEvent.Status.values
    )
    assert set(WebhookEvent.objects.values_list("provider", flat=True)) >= {
        "stripe",
        "apple",
        "google",
    }
    assert WebhookEvent.objects.filter(status="failed").exclude(last_error="").exists()

    # The outbox holds the history written by the demo: sent and failed, nothing waiting
    # (no "your plan changed" email was queued for a made-up purchase).
    statuses = set(EmailMessage.objects.values_list("status", flat=True))
    assert statuses == {EmailMessage.Status.SENT, EmailMessage.Status.FAILED}
    deliveries = set(EmailMessage.objects.values_list("delivery_status", flat=True))
    assert {"delivered", "bounced", "complained"} <= deliveries
    # Each bounced or complained-about address is suppressed, and no other.
    reported = EmailMessage.objects.filter(delivery_status__in=["bounced", "complained"])
    assert set(EmailSuppression.objects.values_list("address", flat=True)) == set(
        reported.values_list("to", flat=True)
    )
    assert AuditEvent.objects.filter(action="entitlement.grant").count() >= 20
    assert Flag.objects.count() >= 3


def test_the_staff_sign_in_opens_the_dashboard_and_every_list(client, staff_file):
    email, password = sign_in_printed(demo(staff_file))

    signed_in = client.post(LOGIN, {"username": email, "password": password})
    assert signed_in.status_code == 302 and signed_in.url == "/admin/"

    dashboard = client.get("/admin/?refresh=1").content.decode()
    total = re.search(r'id="users-total" data-value="(\d+)"', dashboard)
    assert total and int(total.group(1)) == 36
    mrr = re.search(r'id="revenue-mrr" data-value="(\d+)"', dashboard)
    assert mrr and int(mrr.group(1)) > 0
    lists = {
        "/admin/accounts/user/": ("users", User.objects.count(), "@example."),
        "/admin/billing/entitlement/": ("entitlements", Entitlement.objects.count(), "Stripe"),
        "/admin/projects/project/": ("projects", Project.all_objects.count(), "Mobile app"),
        "/admin/files/file/": ("files", File.objects.count(), ".png"),
        "/admin/webhooks/webhookevent/": (
            "webhook events",
            WebhookEvent.objects.count(),
            "evt_demo",
        ),
        "/admin/notifications/emailmessage/": (
            "email messages",
            EmailMessage.objects.count(),
            "Welcome to",
        ),
        "/admin/ai/aiusage/": ("AI usage", AIUsage.objects.count(), "gpt-4o-mini"),
        "/admin/audit/auditevent/": ("audit events", AuditEvent.objects.count(), "entitlement"),
        "/admin/notifications/emailsuppression/": (
            "email suppressions",
            EmailSuppression.objects.count(),
            "@example.",
        ),
        "/admin/flags/flag/": ("flags", Flag.objects.count(), "new-editor"),
        "/admin/usage/usagecounter/": (
            "usage counters",
            UsageCounter.objects.count(),
            "ai_tokens",
        ),
    }
    for url, (plural, expected, shown) in lists.items():
        response = client.get(url)
        html = response.content.decode()
        assert response.status_code == 200, url
        assert expected > 0 and paginator_count(html, plural) == expected, url
        assert shown in html, url


def test_the_banner_shows_the_urls_the_token_command_and_the_demo_sign_in(client, staff_file):
    email, password = sign_in_printed(demo(staff_file))

    banner = welcome(staff_file, "127.0.0.1:8000")

    for url in (
        "http://127.0.0.1:8000/api/v1/",
        "http://127.0.0.1:8000/docs",
        "http://127.0.0.1:8000/redoc",
        "http://127.0.0.1:8000/admin/",
        "http://127.0.0.1:8000/api/v1/public/health",
        f"ws://127.0.0.1:8000/{WEBSOCKET_PATH}",
    ):
        assert url in banner, url
    assert ".venv/bin/python manage.py devtoken you@example.com" in banner
    assert f"{email} / {password}" in banner
    # The pages it names are there.
    for path in ("/docs", "/redoc", "/api/v1/public/health"):
        assert client.get(path).status_code == 200, path
    assert client.get("/admin/").status_code == 302  # to the sign-in page


def test_the_banner_points_to_make_demo_until_a_sign_in_works(staff_file):
    assert "`make demo` seeds" in welcome(staff_file)

    email, password = sign_in_printed(demo(staff_file))
    assert password in welcome(staff_file)

    # Changed since (the admin, changepassword): the kept one is no longer shown...
    staff = User.objects.get(email=email)
    staff.set_password("changed-by-the-staff-member-1")
    staff.save()
    banner = welcome(staff_file)
    assert password not in banner and "`make demo` seeds" in banner

    # ...and the next demo run sets a new one, which signs in.
    _, new_password = sign_in_printed(demo(staff_file))
    assert new_password != password
    assert User.objects.get(email=email).check_password(new_password)
    assert new_password in welcome(staff_file)


def test_the_kept_sign_in_file_is_readable_by_its_owner_only(staff_file):
    demo(staff_file)

    assert staff_file.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_deployed_environments_refuse_the_demo(settings, staff_file, environment):
    settings.ENVIRONMENT = environment
    settings.IS_DEPLOYED = True

    with pytest.raises(CommandError, match=f"refused with ENVIRONMENT={environment}"):
        demo(staff_file)

    assert User.objects.count() == 0
    assert not staff_file.exists()


def test_production_refuses_the_demo_from_the_command_line(tmp_path):
    staff_file = tmp_path / ".demo-staff"

    result = run_manage(GOOD_PRODUCTION, "demo", "--staff-file", str(staff_file))

    assert result.returncode == 1
    assert "refused with ENVIRONMENT=production" in result.stderr
    assert not staff_file.exists()
