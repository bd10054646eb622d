"""`make bench-dashboard`: how long the staff dashboard (the admin's index) takes to compute.

Seeds a PostgreSQL database of its own with 10,000 users and 100,000 AI usage rows (the rows
the dashboard's AI figures add up; all of them in the current month, the worst case for its
"this month" sums), plus entitlements, webhook events, emails and task results, then renders
`/admin/` as a signed-in superuser through Django's test client: `?refresh=1` each time, so every
figure is computed again (the cache is bypassed), and the broker and Redis are asked for real.
Prints the median and slowest of the timed renders, the SQL statements of one render and the
cached render's time, and appends them to bench/README.md (`--no-record` to skip). Target: under
300 ms.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench.run import POSTGRES, recreate_database

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE = "groundwork_bench_dashboard"
REDIS = os.environ.get("BENCH_DASHBOARD_REDIS_URL", "redis://127.0.0.1:6379/5")
USERS, AI_ROWS = 10_000, 100_000
TARGET_MS = 300

ENV = {
    # The local environment with DEBUG off (no query log kept in memory), on PostgreSQL and Redis
    # (cache and broker), as the dashboard meets them in production.
    "ENVIRONMENT": "local",
    "DEBUG": "false",
    "DATABASE_URL": f"{POSTGRES}/{DATABASE}",
    "REDIS_URL": REDIS,
    "CACHE_KEY_PREFIX": "bench-dashboard",
}


def seed(now: datetime) -> None:
    """10,000 users, 100,000 AI usage rows this month, and the other tables' usual rows."""
    from django_celery_results.models import TaskResult

    from accounts.models import User
    from ai.models import AIUsage
    from ai.selectors import month_start
    from billing.models import Entitlement
    from notifications.models import EmailMessage
    from webhooks.models import WebhookEvent

    rng = random.Random(13)  # noqa: S311 - reproducible data, not secrets
    users = User.objects.bulk_create(
        (
            User(
                id=f"bench|{index}",
                email=f"bench{index}@example.com",
                full_name=f"Bench {index}",
                created_at=now - timedelta(minutes=rng.randrange(365 * 24 * 60)),
                last_login_at=now - timedelta(minutes=rng.randrange(90 * 24 * 60))
                if index % 3
                else None,
            )
            for index in range(USERS)
        ),
        batch_size=2000,
    )
    since = month_start(now=now)
    span = max(int((now - since).total_seconds()), 1)
    providers = ("openai", "anthropic", "gemini", "echo")
    AIUsage.objects.bulk_create(
        (
            AIUsage(
                user=users[rng.randrange(USERS)],
                endpoint="chat",
                provider=providers[index % len(providers)],
                model="m",
                prompt_tokens=100,
                completion_tokens=200,
                total_tokens=300,
                cost_estimate=Decimal("0.00120000"),
                created_at=since + timedelta(seconds=rng.randrange(span)),
            )
            for index in range(AI_ROWS)
        ),
        batch_size=5000,
    )
    sources = list(Entitlement.Source)
    Entitlement.objects.bulk_create(
        (
            Entitlement(
                user=users[index],
                source=sources[index % len(sources)],
                external_id=f"bench-{index}",
                plan=Entitlement.Plan.ENTERPRISE if index % 10 == 0 else Entitlement.Plan.PRO,
                status=Entitlement.Status.CANCELED if index % 4 == 0 else Entitlement.Status.ACTIVE,
                current_period_end=now + timedelta(days=20),
            )
            for index in range(2000)
        ),
        batch_size=2000,
    )
    statuses = [WebhookEvent.Status.PROCESSED] * 18 + [
        WebhookEvent.Status.FAILED,
        WebhookEvent.Status.RECEIVED,
    ]
    WebhookEvent.objects.bulk_create(
        (
            WebhookEvent(
                provider="stripe",
                event_id=f"evt_bench_{index}",
                event_type="invoice.paid",
                payload={},
                status=statuses[index % len(statuses)],
                received_at=now - timedelta(minutes=rng.randrange(30 * 24 * 60)),
            )
            for index in range(10_000)
        ),
        batch_size=2000,
    )
    EmailMessage.objects.bulk_create(
        (
            EmailMessage(
                to=f"bench{index}@example.com",
                template="welcome",
                subject="Welcome",
                text_body="Welcome",
                status=EmailMessage.Status.FAILED if index % 50 == 0 else EmailMessage.Status.SENT,
            )
            for index in range(10_000)
        ),
        batch_size=2000,
    )
    TaskResult.objects.bulk_create(
        (
            TaskResult(
                task_id=f"bench-task-{index}",
                task_name="webhooks.tasks.process_webhook_event",
                status="FAILURE" if index % 20 == 0 else "SUCCESS",
            )
            for index in range(5000)
        ),
        batch_size=2000,
    )
    User.objects.create_superuser("bench-staff@example.com", "bench-staff-password-0123")
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renders", type=int, default=10, help="timed renders (median)")
    parser.add_argument("--no-record", action="store_true", help="do not append to README.md")
    args = parser.parse_args()

    os.environ.update(ENV)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    recreate_database(DATABASE)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    seed(datetime.now(UTC))
    print(f"seeded in {time.perf_counter() - started:.1f} s")

    client = Client()
    client.force_login(User.objects.get(email="bench-staff@example.com"))

    def render(path: str) -> float:
        begun = time.perf_counter()
        response = client.get(path)
        elapsed = (time.perf_counter() - begun) * 1000
        assert response.status_code == 200, response.status_code
        assert b'id="users-total" data-value="10000"' in response.content
        return elapsed

    for _ in range(2):  # warm-up: imports, connections, the session
        render("/admin/?refresh=1")
    uncached = [render("/admin/?refresh=1") for _ in range(args.renders)]
    cached = [render("/admin/") for _ in range(args.renders)]
    with CaptureQueriesContext(connection) as captured:
        render("/admin/?refresh=1")
    with CaptureQueriesContext(connection) as captured_cached:
        render("/admin/")

    median = statistics.median(uncached)
    verdict = "within" if median < TARGET_MS else "over"
    report = (
        f"### Dashboard, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n\n"
        f"{os.cpu_count()} cores ({platform.machine()}), PostgreSQL and Redis on this machine, "
        f"{USERS:,} users, {AI_ROWS:,} AI usage rows this month; `/admin/` through Django's test "
        f"client as a superuser, {args.renders} renders each (load average at the end: "
        f"{os.getloadavg()[0]:.1f}).\n\n"
        "| render | median ms | slowest ms | SQL statements |\n"
        "|---|---:|---:|---:|\n"
        f"| uncached (`?refresh=1`) | {median:.1f} | {max(uncached):.1f} | {len(captured)} |\n"
        f"| cached | {statistics.median(cached):.1f} | {max(cached):.1f} "
        f"| {len(captured_cached)} |\n\n"
        f"Uncached median {median:.1f} ms: {verdict} the {TARGET_MS} ms target.\n"
    )
    print(report)
    if not args.no_record:
        with open(BASE_DIR / "bench" / "README.md", "a") as readme:
            readme.write("\n" + report)


if __name__ == "__main__":
    main()
