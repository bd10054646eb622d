"""Prometheus metrics: the business series, their recorders and the scrape's exposition.

django-prometheus exports the HTTP (`django_http_*`), database (`django_db_*`) and cache
(`django_cache_*`) series; the recorders below add what only the code knows. Other modules call
them where the event happens (the metric names are what the Grafana dashboards query):

    record_auth_failure(*, reason)                        groundwork_auth_failures_total{reason}
    record_rate_limited(*, scope)                         groundwork_rate_limit_hits_total{scope}
    record_impersonated_request(*, method)   groundwork_impersonated_requests_total{method}
    record_webhook_event(*, provider, event_type, outcome, seconds)
        groundwork_webhook_events_total{provider,event_type,outcome},
        groundwork_webhook_processing_seconds{provider} (histogram)
    record_ai_call(*, provider, model, outcome, prompt_tokens, completion_tokens, seconds)
        groundwork_ai_requests_total{provider,model,outcome},
        groundwork_ai_tokens_total{provider,model,kind}  (kind: prompt|completion),
        groundwork_ai_latency_seconds{provider,model} (histogram)
    record_email(*, template, status)         groundwork_emails_sent_total{template,status}
    record_job(*, task, outcome, seconds)
        groundwork_jobs_total{task,outcome}  (outcome: succeeded|failed|retried),
        groundwork_job_duration_seconds{task} (histogram)

Recording is in memory (or, in multiprocess mode, a memory-mapped file): no SQL, no network.
Label values that come from outside (AI model names, webhook event types) are capped per label:
past `MAX_LABEL_VALUES` distinct values a process records `other`, so no caller can grow the
series without bound.

Several processes (gunicorn workers): with `PROMETHEUS_MULTIPROC_DIR` set to an empty directory
shared by the processes, each writes its own files there and the scrape adds them up.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from django_prometheus.cache.metrics import (
    django_cache_get_total,
    django_cache_hits_total,
    django_cache_misses_total,
)
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

MAX_LABEL_VALUES = 100
OTHER = "other"
HTTP_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"})

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_AI_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120)
_JOB_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

AUTH_FAILURES = Counter(
    "groundwork_auth_failures", "API requests refused for their credentials.", ["reason"]
)
RATE_LIMIT_HITS = Counter(
    "groundwork_rate_limit_hits", "API requests refused by a rate limit.", ["scope"]
)
IMPERSONATED_REQUESTS = Counter(
    "groundwork_impersonated_requests",
    "API requests made by staff with an impersonation token.",
    ["method"],
)
WEBHOOK_EVENTS = Counter(
    "groundwork_webhook_events",
    "Webhook events processed, by outcome.",
    ["provider", "event_type", "outcome"],
)
WEBHOOK_SECONDS = Histogram(
    "groundwork_webhook_processing_seconds",
    "Time to process one webhook event.",
    ["provider"],
    buckets=_LATENCY_BUCKETS,
)
AI_REQUESTS = Counter(
    "groundwork_ai_requests", "AI calls, by outcome.", ["provider", "model", "outcome"]
)
AI_TOKENS = Counter(
    "groundwork_ai_tokens", "AI tokens used (prompt or completion).", ["provider", "model", "kind"]
)
AI_LATENCY = Histogram(
    "groundwork_ai_latency_seconds",
    "Duration of an AI call (a stream: until it ended).",
    ["provider", "model"],
    buckets=_AI_BUCKETS,
)
EMAILS_SENT = Counter(
    "groundwork_emails_sent", "Emails that left the outbox, by status.", ["template", "status"]
)
JOBS = Counter("groundwork_jobs", "Background tasks run, by outcome.", ["task", "outcome"])
JOB_SECONDS = Histogram(
    "groundwork_job_duration_seconds",
    "Duration of one background task run.",
    ["task"],
    buckets=_JOB_BUCKETS,
)

_seen: dict[str, set[str]] = {}
_seen_lock = threading.Lock()


def _bounded(label: str, value: str) -> str:
    """`value`, or `other` once `label` already has MAX_LABEL_VALUES distinct values here."""
    value = value or "unknown"
    values = _seen.setdefault(label, set())
    if value in values:
        return value
    with _seen_lock:
        if len(values) >= MAX_LABEL_VALUES:
            return OTHER
        values.add(value)
    return value


def record_auth_failure(*, reason: str) -> None:
    """An API request refused for its credentials (`reason`: missing, expired, invalid, …)."""
    AUTH_FAILURES.labels(reason=_bounded("auth_reason", reason)).inc()


def record_rate_limited(*, scope: str) -> None:
    """A request throttled in `scope` (default, ai, …)."""
    RATE_LIMIT_HITS.labels(scope=_bounded("rate_scope", scope)).inc()


def record_impersonated_request(*, method: str) -> None:
    """An API request made with an impersonation token (allowed or refused as read-only)."""
    method = method.upper()
    IMPERSONATED_REQUESTS.labels(method=method if method in HTTP_METHODS else OTHER).inc()


def record_webhook_event(*, provider: str, event_type: str, outcome: str, seconds: float) -> None:
    """A webhook event processed: `outcome` processed|ignored|failed|retried."""
    provider = _bounded("webhook_provider", provider)
    WEBHOOK_EVENTS.labels(
        provider=provider, event_type=_bounded("webhook_event_type", event_type), outcome=outcome
    ).inc()
    WEBHOOK_SECONDS.labels(provider=provider).observe(max(0.0, seconds))


def record_ai_call(
    *,
    provider: str,
    model: str,
    outcome: str,
    prompt_tokens: int,
    completion_tokens: int,
    seconds: float,
) -> None:
    """An AI call ended: `outcome` success|error|disconnected."""
    provider = _bounded("ai_provider", provider)
    model = _bounded("ai_model", model)
    if prompt_tokens > 0:
        AI_TOKENS.labels(provider=provider, model=model, kind="prompt").inc(prompt_tokens)
    if completion_tokens > 0:
        AI_TOKENS.labels(provider=provider, model=model, kind="completion").inc(completion_tokens)
    AI_LATENCY.labels(provider=provider, model=model).observe(max(0.0, seconds))
    # Counted last: a scrape that sees the call also sees its tokens and latency.
    AI_REQUESTS.labels(provider=provider, model=model, outcome=outcome).inc()


def record_email(*, template: str, status: str) -> None:
    """An email left the outbox: `status` sent|failed."""
    EMAILS_SENT.labels(template=_bounded("email_template", template), status=status).inc()


def record_job(*, task: str, outcome: str, seconds: float) -> None:
    """A Celery task ran: `outcome` succeeded|failed|retried."""
    task = _bounded("job_task", task)
    JOBS.labels(task=task, outcome=outcome).inc()
    JOB_SECONDS.labels(task=task).observe(max(0.0, seconds))


def multiprocess_enabled() -> bool:
    """True when metrics are kept in PROMETHEUS_MULTIPROC_DIR and summed over processes."""
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def metrics_exposition() -> tuple[bytes, str]:
    """The Prometheus text of every metric (of every process in multiprocess mode)."""
    if multiprocess_enabled():
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


class InstrumentedLocMemCache(LocMemCache):
    """Django's in-memory cache counting gets, hits and misses like django-prometheus's backends.

    django-prometheus's own LocMemCache answers the default for any falsy cached value (0, "",
    False); this one returns what was stored.
    """

    _missing = object()

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        django_cache_get_total.labels(backend="locmem").inc()
        value = super().get(key, self._missing, version=version)
        if value is self._missing:
            django_cache_misses_total.labels(backend="locmem").inc()
            return default
        django_cache_hits_total.labels(backend="locmem").inc()
        return value
