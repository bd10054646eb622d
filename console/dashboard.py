"""The dashboard on the admin's index: the state of the business and what needs attention.

`dashboard_figures` gathers every figure through the apps' selectors in a fixed number of
queries, whatever the volume of data, and checks the database, Redis and the broker;
`dashboard_context` keeps those figures in the cache for DASHBOARD_CACHE_SECONDS (`?refresh=1`
computes them again), then shapes them for `templates/admin/index.html`: links to the admin lists
that show the rows behind a figure, the sign-ups chart, and only the sections whose models the
staff member may view in the admin (system health is for every staff member).

Definitions shown on the page:
- users are customers: staff accounts are not counted; active = not deactivated and signed in
  within the last 30 days (`last_login_at`);
- MRR and subscriptions: `billing.selectors.subscription_summary` (store-billed, not trialing, at
  the plan's monthly list price);
- "failed in 24 h" (webhook events, emails): failed, with their last attempt in the last 24 hours;
- days, "today" and "this month" are UTC.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.admin.utils import quote
from django.core.cache import cache
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_celery_results.models import TaskResult

from accounts.selectors import user_signups_per_day, user_stats
from ai.selectors import ai_top_spenders, ai_usage_by_provider, month_start
from billing.models import Entitlement
from billing.selectors import subscription_summary
from config.celery import app as celery_app
from config.health import readiness
from console.charts import bar_chart
from notifications.selectors import email_outbox_state
from webhooks.selectors import webhook_backlog

logger = logging.getLogger(__name__)

CACHE_KEY = "console:dashboard:v1"
SIGNUP_DAYS = 30
ACTIVE_DAYS = 30
RECENT = timedelta(hours=24)
TOP_SPENDERS = 5
# The broker is asked with short timeouts and no retry: a broker that is down or hangs must
# cost the page about a second, not the connection's usual retries.
BROKER_PROBE_OPTIONS = {
    "max_retries": 0,
    "socket_connect_timeout": 1,
    "socket_timeout": 1,
}
# Readiness' words, as the page shows them.
HEALTH_WORDS = {"healthy": "ok", "unhealthy": "down", "not_configured": "not configured"}
# The model whose view permission shows each section (system health: every staff member).
SECTION_MODELS = {
    "users": ("accounts", "user"),
    "revenue": ("billing", "entitlement"),
    "webhooks": ("webhooks", "webhookevent"),
    "emails": ("notifications", "emailmessage"),
    "tasks": ("django_celery_results", "taskresult"),
    "ai": ("ai", "aiusage"),
}


# --- the figures (cached) -----------------------------------------------------------------------


def task_failures_count(*, since: datetime) -> int:
    """Celery tasks that a worker ran and that failed from `since` on (their stored results)."""
    return TaskResult.objects.filter(status="FAILURE", date_done__gte=since).count()


def broker_state() -> dict[str, Any]:
    """The broker's health (`status`, `latency_ms`) and `queued`: the default queue's length
    when the broker is Redis, else None (also when tasks run eagerly, without a broker)."""
    if celery_app.conf.task_always_eager or not celery_app.conf.broker_url:
        return {"status": "not_configured", "latency_ms": None, "queued": None}
    started = time.perf_counter()
    queued: int | None = None
    try:
        with celery_app.connection_for_read(transport_options=BROKER_PROBE_OPTIONS) as connection:
            channel = connection.default_channel  # connecting proves the broker answers
            if connection.transport.driver_type == "redis":
                # The Redis transport's channel holds a redis-py client.
                client = channel.client  # type: ignore[attr-defined]
                queued = int(client.llen(celery_app.conf.task_default_queue))
    except Exception as error:  # noqa: BLE001 - kombu and redis raise many kinds when down
        logger.warning("dashboard: the broker did not answer: %s: %s", type(error).__name__, error)
        status = "unhealthy"
    else:
        status = "healthy"
    latency = round((time.perf_counter() - started) * 1000, 2)
    return {"status": status, "latency_ms": latency, "queued": queued}


def dashboard_figures(*, now: datetime) -> dict[str, Any]:
    """Every figure of the dashboard as of `now`, as plain data (cacheable). About a dozen
    queries whatever the volume; a dependency that is down shows as down, never raises."""
    now = now.astimezone(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first_day = today - timedelta(days=SIGNUP_DAYS - 1)
    since = now - RECENT
    per_day = user_signups_per_day(since=first_day)
    subscriptions = subscription_summary(now=now)
    providers = ai_usage_by_provider(month_start=month_start(now=now), day_start=today)
    _, readiness_body = readiness()
    components = readiness_body["components"]
    broker = broker_state()
    return {
        "computed_at": now,
        "since": since,
        "users": {
            **user_stats(now=now, active_days=ACTIVE_DAYS),
            # (UTC day, sign-ups), every day of the period, oldest first.
            "signups": [
                (day.isoformat(), per_day.get(day, 0))
                for day in (
                    (first_day + timedelta(days=offset)).date() for offset in range(SIGNUP_DAYS)
                )
            ],
        },
        "revenue": {
            "rows": subscriptions.rows,
            "total": subscriptions.total,
            "by_plan": subscriptions.count_by("plan"),
            "by_source": subscriptions.count_by("source"),
            "mrr_cents": subscriptions.mrr_cents,
            "currency": subscriptions.currency,
        },
        "webhooks": webhook_backlog(failed_since=since),
        "emails": email_outbox_state(failed_since=since),
        "tasks": {"queued": broker["queued"], "failed": task_failures_count(since=since)},
        "ai": {
            "providers": providers,
            "tokens_today": sum(row["tokens_today"] for row in providers),
            "cost_today": sum((row["cost_today"] for row in providers), Decimal(0)),
            "tokens_month": sum(row["tokens_month"] for row in providers),
            "cost_month": sum((row["cost_month"] for row in providers), Decimal(0)),
            "top": ai_top_spenders(since=month_start(now=now), limit=TOP_SPENDERS),
        },
        "health": {
            "database": components["database"],
            "cache": components["redis"],
            "broker": {key: broker[key] for key in ("status", "latency_ms")},
        },
    }


def _cached_figures() -> dict[str, Any] | None:
    try:
        figures: dict[str, Any] | None = cache.get(CACHE_KEY)
    except Exception as error:  # noqa: BLE001 - a cache outage only costs the computation
        logger.warning("dashboard: figures not read from the cache: %s", error)
        return None
    return figures


def _cache_figures(figures: dict[str, Any]) -> None:
    if settings.DASHBOARD_CACHE_SECONDS <= 0:
        return
    try:
        cache.set(CACHE_KEY, figures, settings.DASHBOARD_CACHE_SECONDS)
    except Exception as error:  # noqa: BLE001 - a cache outage only costs the computation
        logger.warning("dashboard: figures not cached: %s", error)


def current_figures(*, refresh: bool = False) -> dict[str, Any]:
    """The cached figures, or new ones (then cached) when there are none or `refresh`."""
    figures = None if refresh else _cached_figures()
    if figures is None:
        figures = dashboard_figures(now=timezone.now())
        _cache_figures(figures)
    return figures


# --- the page (per request, no query beyond the viewer's permissions) --------------------------


def _admin_url(name: str, *args: str, **query: Any) -> str | None:
    """The admin URL `name` with `query`, or None when that admin is not registered."""
    try:
        url = reverse(f"admin:{name}", args=args)
    except NoReverseMatch:
        return None
    return f"{url}?{urlencode(query)}" if query else url


def _moment(value: datetime) -> str:
    """A filter value the admin's changelists accept (ISO 8601, UTC offset)."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


def _age(seconds: float) -> str:
    """A duration in words, coarse: "45 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def _money(amount: Decimal | float, places: int = 2) -> str:
    return f"{amount:,.{places}f}"


def _health(component: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": HEALTH_WORDS.get(component["status"], component["status"]),
        "latency_ms": component["latency_ms"],
    }


def _users(figures: dict[str, Any]) -> dict[str, Any]:
    users = figures["users"]
    points = users["signups"]
    return {
        **{key: users[key] for key in ("total", "active", "new_7d", "new_30d")},
        "chart": bar_chart(
            points,
            title=f"Sign-ups per day, last {SIGNUP_DAYS} days (UTC)",
            chart_id="users-signups-chart",
            unit="sign-ups",
        ),
        "signups_30d": sum(count for _, count in points),
        "list_url": _admin_url("accounts_user_changelist"),
    }


def _revenue(figures: dict[str, Any]) -> dict[str, Any]:
    revenue = figures["revenue"]
    paid = [plan for plan in Entitlement.Plan if plan != Entitlement.Plan.FREE]
    return {
        "mrr_cents": revenue["mrr_cents"],
        "mrr": _money(Decimal(revenue["mrr_cents"]) / 100),
        "currency": revenue["currency"].upper(),
        "total": revenue["total"],
        "by_plan": [
            {
                "key": plan.value,
                "label": plan.label,
                "count": revenue["by_plan"].get(plan.value, 0),
                "monthly_price": _money(
                    Decimal(settings.BILLING_MONTHLY_PRICE_CENTS.get(plan.value, 0)) / 100
                ),
            }
            for plan in paid
        ],
        "by_source": [
            {
                "key": source.value,
                "label": source.label,
                "count": revenue["by_source"].get(source.value, 0),
            }
            for source in Entitlement.Source
        ],
        "list_url": _admin_url("billing_entitlement_changelist"),
    }


def _webhooks(figures: dict[str, Any], now: datetime) -> dict[str, Any]:
    webhooks = figures["webhooks"]
    oldest = webhooks["oldest_pending"]
    pending_query = {"status__in": "received,processing"}
    return {
        "pending": webhooks["pending"],
        "failed": webhooks["failed"],
        "oldest_age_seconds": int((now - oldest).total_seconds()) if oldest else None,
        "oldest_age": _age((now - oldest).total_seconds()) if oldest else None,
        "oldest_at": oldest,
        "pending_url": _admin_url("webhooks_webhookevent_changelist", **pending_query),
        "failed_url": _admin_url(
            "webhooks_webhookevent_changelist",
            status__exact="failed",
            updated_at__gte=_moment(figures["since"]),
        ),
        # The pending events, oldest first (the list's own ordering, by its received_at column).
        "oldest_url": _admin_url(
            "webhooks_webhookevent_changelist", **pending_query, o=_column("received_at")
        ),
    }


def _column(field: str) -> str:
    """The changelist's ordering parameter sorting the webhook list by `field`, ascending."""
    from webhooks.admin import WebhookEventAdmin

    return str(list(WebhookEventAdmin.list_display).index(field) + 1)


def _emails(figures: dict[str, Any]) -> dict[str, Any]:
    emails = figures["emails"]
    return {
        **emails,
        "failed_recent_url": _admin_url(
            "notifications_emailmessage_changelist",
            status__exact="failed",
            updated_at__gte=_moment(figures["since"]),
        ),
        "failed_url": _admin_url("notifications_emailmessage_changelist", status__exact="failed"),
        "queued_url": _admin_url("notifications_emailmessage_changelist", status__exact="queued"),
    }


def _tasks(figures: dict[str, Any]) -> dict[str, Any]:
    return {
        **figures["tasks"],
        "failed_url": _admin_url(
            "django_celery_results_taskresult_changelist",
            status__exact="FAILURE",
            date_done__gte=_moment(figures["since"]),
        ),
        "periodic_url": _admin_url("django_celery_beat_periodictask_changelist"),
    }


def _ai(figures: dict[str, Any], request: HttpRequest) -> dict[str, Any]:
    ai = figures["ai"]
    may_view_users = _may_view(request, ("accounts", "user"))
    return {
        "tokens_today": ai["tokens_today"],
        "tokens_month": ai["tokens_month"],
        "cost_today": _money(ai["cost_today"], 4),
        "cost_month": _money(ai["cost_month"], 4),
        "providers": [
            {
                **row,
                "cost_today": _money(row["cost_today"], 4),
                "cost_month": _money(row["cost_month"], 4),
            }
            for row in ai["providers"]
        ],
        "top": [
            {
                **row,
                "cost": _money(row["cost"], 4),
                "url": _admin_url("accounts_user_change", quote(row["user_id"]))
                if may_view_users
                else None,
            }
            for row in ai["top"]
        ],
        "list_url": _admin_url("ai_aiusage_changelist"),
    }


def _may_view(request: HttpRequest, model: tuple[str, str]) -> bool:
    app_label, model_name = model
    user = request.user
    return bool(
        user.has_perm(f"{app_label}.view_{model_name}")
        or user.has_perm(f"{app_label}.change_{model_name}")
    )


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    """The dashboard's figures for the index template (`dashboard`): cached, recomputed with
    `?refresh=1`; each section only for staff who may view its model in the admin."""
    figures = current_figures(refresh=request.GET.get("refresh") == "1")
    now = timezone.now()
    shown = {name: _may_view(request, model) for name, model in SECTION_MODELS.items()}
    return {
        "dashboard": {
            "as_of": figures["computed_at"],
            "refresh_url": f"{request.path}?refresh=1",
            "users": _users(figures) if shown["users"] else None,
            "revenue": _revenue(figures) if shown["revenue"] else None,
            "webhooks": _webhooks(figures, now) if shown["webhooks"] else None,
            "emails": _emails(figures) if shown["emails"] else None,
            "tasks": _tasks(figures) if shown["tasks"] else None,
            "ai": _ai(figures, request) if shown["ai"] else None,
            "health": {name: _health(state) for name, state in figures["health"].items()},
            "active_days": ACTIVE_DAYS,
        }
    }
