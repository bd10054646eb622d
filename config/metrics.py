"""Prometheus metrics: the business series, their recorders and the scrape's exposition.

django-prometheus exports the database (`django_db_*`) and cache (`django_cache_*`) series; the
HTTP ones (`django_http_*`, by method, status, view and latency, under django-prometheus's names)
are recorded by `MetricsBeforeMiddleware` and `MetricsAfterMiddleware` below, lighter than its
own middleware. The recorders below add what only the code knows. Other modules call them where
the event happens (the metric names are what the Grafana dashboards query):

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
import time
from collections.abc import Callable
from typing import Any

from django.core.cache.backends.locmem import LocMemCache
from django.http import HttpRequest
from django.http.response import HttpResponseBase
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


# --- HTTP series (the django-prometheus middleware, lighter) -----------------------------------

_HTTP_METHODS_PROMETHEUS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "CONNECT", "PATCH"}
)
UNNAMED_VIEW = "<unnamed view>"


class HttpMetrics:
    """The `django_http_*` series the dashboards, runbooks and tests read, named and bucketed as
    django-prometheus names them (its `PROMETHEUS_LATENCY_BUCKETS` and namespace settings apply).

    django-prometheus's middleware records about fifteen samples per request, several of them
    the same count again (requests before and after the middleware, by method, by transport, by
    view...) or a constant (the charset): each is a locked write to a memory-mapped file in
    multiprocess mode. These are the ones kept; a labelled child is looked up once per label
    values and kept.
    """

    def __init__(self) -> None:
        from django_prometheus.conf import NAMESPACE, PROMETHEUS_LATENCY_BUCKETS

        def counter(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(name, documentation, labels, namespace=NAMESPACE)

        def histogram(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Histogram:
            return Histogram(
                name, documentation, labels, namespace=NAMESPACE, buckets=PROMETHEUS_LATENCY_BUCKETS
            )

        self.latency_including_middlewares = histogram(
            "django_http_requests_latency_including_middlewares_seconds",
            "Histogram of requests processing time (including middleware processing time).",
        )
        self.requests_by_method = counter(
            "django_http_requests_total_by_method", "Count of requests by method.", ("method",)
        )
        self.responses_by_status = counter(
            "django_http_responses_total_by_status", "Count of responses by status.", ("status",)
        )
        self.responses_by_status_view_method = counter(
            "django_http_responses_total_by_status_view_method",
            "Count of responses by status, view, method.",
            ("status", "view", "method"),
        )
        self.latency_by_view_method = histogram(
            "django_http_requests_latency_seconds_by_view_method",
            "Histogram of request processing time labelled by view.",
            ("view", "method"),
        )
        self.responses_streaming = counter(
            "django_http_responses_streaming_total", "Count of streaming responses."
        )
        self.exceptions_by_type = counter(
            "django_http_exceptions_total_by_type", "Count of exceptions by object type.", ("type",)
        )
        self.exceptions_by_view = counter(
            "django_http_exceptions_total_by_view", "Count of exceptions by view.", ("view",)
        )
        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, metric: Any, *values: str) -> Any:
        """`metric.labels(*values)`, looked up once per process and label values."""
        key = (metric, *values)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*values)
        return found


_http_metrics: HttpMetrics | None = None
_http_metrics_lock = threading.Lock()


def http_metrics() -> HttpMetrics:
    """The process's `HttpMetrics`, registered on first use."""
    global _http_metrics
    with _http_metrics_lock:
        if _http_metrics is None:
            _http_metrics = HttpMetrics()
    return _http_metrics


def _method(request: HttpRequest) -> str:
    method = request.method or ""
    return method if method in _HTTP_METHODS_PROMETHEUS else "<invalid method>"


def _view_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return (match.view_name if match is not None else None) or UNNAMED_VIEW


class MetricsBeforeMiddleware:
    """First in MIDDLEWARE: the request's latency including every middleware
    (`django_http_requests_latency_including_middlewares_seconds`)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.latency = http_metrics().latency_including_middlewares

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        self.latency.observe(time.perf_counter() - started)
        return response


class MetricsAfterMiddleware:
    """Last in MIDDLEWARE: requests by method, responses by status (and view and method), the
    view's latency, streaming responses, and exceptions by type and view."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.metrics = http_metrics()

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        metrics = self.metrics
        method = _method(request)
        metrics.child(metrics.requests_by_method, method).inc()
        started = time.perf_counter()
        response = self.get_response(request)
        seconds = time.perf_counter() - started
        view = _view_name(request)
        status = str(response.status_code)
        metrics.child(metrics.responses_by_status, status).inc()
        metrics.child(metrics.responses_by_status_view_method, status, view, method).inc()
        if getattr(response, "streaming", False):
            metrics.responses_streaming.inc()
        metrics.child(metrics.latency_by_view_method, view, method).observe(seconds)
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        metrics = self.metrics
        metrics.child(metrics.exceptions_by_type, type(exception).__name__).inc()
        if getattr(request, "resolver_match", None) is not None:
            metrics.child(metrics.exceptions_by_view, _view_name(request)).inc()
