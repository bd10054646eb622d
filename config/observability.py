"""Logs, errors and traces, with the request context in each.

Logging: every log line of a request carries its request id and, once authenticated, the user id
(and, under an impersonation token, the staff member's id as `impersonator_id`); on a WebSocket,
the socket's `connection_id` and its user's id;
in a Celery task, the task's id and name and the request id of the web request that enqueued it
(sent in the task message's headers); with tracing on, the trace and span ids. All of them live
in context variables that a logging filter copies onto each record. `LOG_FORMAT=json` prints one
JSON object per line.

`setup_observability()` (called once per process from the `config` app's `ready()`) adds:

- the Celery signal handlers: request id into published task headers, task context for logs,
  the `groundwork_jobs_*` metrics, and Django's LOGGING kept in workers;
- Sentry (`SENTRY_DSN`): Django, Celery and Redis integrations, no personal data, the request id
  as a tag;
- OpenTelemetry (`OTEL_EXPORTER_OTLP_ENDPOINT`): Django, psycopg, Redis, Celery, requests and
  urllib3 instrumentations. They only patch code, which forked processes inherit; the tracer
  provider, whose exporter runs a thread, is started by `start_tracing()` in each serving process
  after any fork: gunicorn's `post_fork` hook, Celery's `worker_process_init`, and otherwise the
  first request or task of the process (runserver, a solo-pool worker).
"""

from __future__ import annotations

import logging
import logging.config
import os
import re
import threading
import time
from collections.abc import Sequence
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
user_id_var: ContextVar[str | None] = ContextVar("user_id", default=None)
# The staff member acting as the user, on requests made with an impersonation token.
impersonator_id_var: ContextVar[str | None] = ContextVar("impersonator_id", default=None)
# The WebSocket being served (realtime's consumer sets it for the socket's task).
connection_id_var: ContextVar[str | None] = ContextVar("connection_id", default=None)
task_id_var: ContextVar[str | None] = ContextVar("task_id", default=None)
task_name_var: ContextVar[str | None] = ContextVar("task_name", default=None)

# The task message header that carries the enqueuing request's id to the worker.
REQUEST_ID_HEADER = "x_request_id"
# Not traced unless OTEL_PYTHON_DJANGO_EXCLUDED_URLS says otherwise: probes and scrapes.
DEFAULT_TRACE_EXCLUDED_URLS = "api/v1/public/health,api/v1/public/metrics"

logger = logging.getLogger(__name__)


class _State:
    """What this process has set up (setup once; tracing once per process id)."""

    setup = False
    tracing_instrumented = False
    tracing_pid: int | None = None
    lock = threading.Lock()


_state = _State()

# Query parameters whose values are credentials: file links' `token`, WebSocket `ticket`s,
# presigned URLs' `X-Amz-Signature`, OAuth's `access_token`... (any name ending in one of these).
SENSITIVE_QUERY_VALUE = re.compile(
    r"(?P<name>(?:^|[?&;])[\w.\-]*(?:token|ticket|signature))=(?P<value>[^&#\s\"']*)",
    re.IGNORECASE,
)
REDACTED = "REDACTED"


def redact_query_values(text: str) -> str:
    """`text` (a URL, a query string, a log message) with the values of the `token`, `ticket` and
    `signature` query parameters replaced by REDACTED."""
    if "=" not in text:
        return text
    return SENSITIVE_QUERY_VALUE.sub(lambda match: f"{match['name']}={REDACTED}", text)


def _redacted_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_query_values(value)
    if isinstance(value, tuple | list) and any(isinstance(item, str) for item in value):
        return tuple(redact_query_values(item) if isinstance(item, str) else item for item in value)
    return value


def _trace_ids() -> tuple[str | None, str | None]:
    if not _state.tracing_instrumented:
        return None, None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None, None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


class RequestContextFilter(logging.Filter):
    """Adds `request_id`, `user_id`, `impersonator_id`, `connection_id`, `task_id`, `task_name`,
    `trace_id` and `span_id` to every record (None when not known)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        if not hasattr(record, "user_id"):
            record.user_id = user_id_var.get()
        if not hasattr(record, "impersonator_id"):
            record.impersonator_id = impersonator_id_var.get()
        if not hasattr(record, "connection_id"):
            record.connection_id = connection_id_var.get()
        if not hasattr(record, "task_id"):
            record.task_id = task_id_var.get()
        if not hasattr(record, "task_name"):
            record.task_name = task_name_var.get()
        if not hasattr(record, "trace_id"):
            record.trace_id, record.span_id = _trace_ids()
        return True


def _redact_record(record: logging.LogRecord) -> None:
    """Credentials in query strings never reach a log line (a server's request line, an error
    naming a URL): the message is rendered once here, redacted when it holds one."""
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001 - a malformed record is the formatter's to report
        return
    redacted = redact_query_values(message)
    if redacted != message:
        record.msg, record.args = redacted, None


def build_logging(*, level: str, json: bool) -> dict[str, Any]:
    """The LOGGING dict: JSON lines or a readable console format, with request context."""
    formatter: dict[str, Any]
    if json:
        formatter = {
            "()": "pythonjsonlogger.orjson.OrjsonFormatter",
            "format": (
                "%(levelname)s %(name)s %(message)s %(request_id)s %(user_id)s "
                "%(impersonator_id)s %(connection_id)s %(task_id)s %(task_name)s %(trace_id)s "
                "%(span_id)s"
            ),
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": True,
        }
    else:
        formatter = {
            "format": "%(asctime)s %(levelname)-7s %(name)s [%(request_id)s] %(message)s",
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_context": {"()": "config.observability.RequestContextFilter"}},
        "formatters": {"default": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "filters": ["request_context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # The access log replaces Django's own request lines; runserver's failed ones go
            # through our handler (request context, redaction), not Django's default one.
            "django.server": {"level": "WARNING", "handlers": ["console"], "propagate": False},
            "django.request": {"level": "ERROR"},
            # The AI SDKs' HTTP client logs every request at INFO; failures are logged by ai.
            "httpx2": {"level": "WARNING"},
            "httpcore2": {"level": "WARNING"},
        },
    }


def setup_observability() -> None:
    """Celery signal handlers, Sentry and the OpenTelemetry instrumentations, once per process."""
    from django.conf import settings

    with _state.lock:
        if _state.setup:
            return
        _state.setup = True
    _connect_celery_signals()
    if settings.SENTRY_DSN:
        _setup_sentry()
    if settings.OTEL_EXPORTER_OTLP_ENDPOINT:
        _instrument_tracing()


# --- Sentry ----------------------------------------------------------------------------------


def _tag_event(event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any]:
    """Sentry's before_send: the request (and task) ids as tags, so an error finds its logs.

    The query string is dropped, as in the access log: it may carry personal data or tokens; the
    URLs of breadcrumbs (outgoing HTTP calls, log lines) have their credentials redacted.
    """
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("query_string", None)
        if isinstance(request.get("url"), str):
            request["url"] = request["url"].split("?", 1)[0]
    breadcrumbs = event.get("breadcrumbs")
    crumbs = breadcrumbs.get("values") if isinstance(breadcrumbs, dict) else breadcrumbs
    for crumb in crumbs if isinstance(crumbs, list) else ():
        if not isinstance(crumb, dict):
            continue
        if isinstance(crumb.get("message"), str):
            crumb["message"] = redact_query_values(crumb["message"])
        data = crumb.get("data")
        if isinstance(data, dict):
            for key, value in data.items():
                data[key] = _redacted_value(value)
    tags = event.setdefault("tags", {})
    request_id = request_id_var.get()
    if request_id:
        tags["request_id"] = request_id
    task_id = task_id_var.get()
    if task_id:
        tags["task_id"] = task_id
    return event


def _setup_sentry() -> None:
    import sentry_sdk
    from django.conf import settings
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.redis import RedisIntegration

    sentry_sdk.init(
        dsn=settings.SENTRY_DSN,
        environment=settings.SENTRY_ENVIRONMENT,
        release=settings.SENTRY_RELEASE,
        integrations=[DjangoIntegration(), CeleryIntegration(), RedisIntegration()],
        # No user, IP address, cookies, request bodies or stack frames' local variables (a token,
        # an email): they may be personal data.
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        before_send=_tag_event,  # type: ignore[arg-type]
        # Traces go to OpenTelemetry; Sentry receives errors only.
        traces_sample_rate=None,
    )


# --- OpenTelemetry ---------------------------------------------------------------------------


def _instrument_tracing() -> None:
    """Patch the libraries (inherited by forked processes); spans need `start_tracing()`."""
    from django.core.signals import request_started
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.requests import RequestsInstrumentor
    from opentelemetry.instrumentation.urllib3 import URLLib3Instrumentor

    excluded = os.environ.get("OTEL_PYTHON_DJANGO_EXCLUDED_URLS") or os.environ.get(
        "OTEL_PYTHON_EXCLUDED_URLS", DEFAULT_TRACE_EXCLUDED_URLS
    )
    # Inserted first in MIDDLEWARE (before the middleware chain is built): the request's span
    # is current for every log line of the request.
    DjangoInstrumentor().instrument(excluded_urls=excluded)
    PsycopgInstrumentor().instrument()
    RedisInstrumentor().instrument()
    CeleryInstrumentor().instrument()
    RequestsInstrumentor().instrument()
    URLLib3Instrumentor().instrument()
    _state.tracing_instrumented = True
    # The fallback for servers without a post-fork hook: the first request starts tracing.
    request_started.connect(_start_tracing_on_request, dispatch_uid="config.start_tracing")


def _start_tracing_on_request(**kwargs: Any) -> None:
    if _state.tracing_pid != os.getpid():
        start_tracing()


def start_tracing() -> None:
    """Start exporting spans (OTLP over HTTP, batched) from this process; idempotent.

    Call it in each process that serves, after any fork: gunicorn's `post_fork` hook does, Celery
    pool processes do on `worker_process_init`, and any other process on its first request or
    task. Nothing happens unless `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
    """
    from django.conf import settings

    if not settings.OTEL_EXPORTER_OTLP_ENDPOINT or not _state.tracing_instrumented:
        return
    with _state.lock:
        if _state.tracing_pid == os.getpid():
            return
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        resource = Resource.create(
            {
                "service.name": settings.OTEL_SERVICE_NAME,
                "service.version": settings.APP_VERSION,
                "deployment.environment.name": settings.ENVIRONMENT,
            }
        )
        provider = TracerProvider(resource=resource)
        exporter = OTLPSpanExporter(endpoint=f"{settings.OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces")
        provider.add_span_processor(BatchSpanProcessor(redacting_exporter(exporter)))
        trace.set_tracer_provider(provider)
        _state.tracing_pid = os.getpid()
    logger.info("tracing started: spans exported to %s", settings.OTEL_EXPORTER_OTLP_ENDPOINT)


def redacting_exporter(exporter: SpanExporter) -> SpanExporter:
    """`exporter`, sending every span with its credentials redacted (`redact_query_values`).

    The instrumentations record the request's target and the URLs called (`http.target`,
    `url.query`, `http.url`...) with their query strings, which may carry a file link's token or
    a WebSocket ticket; OpenTelemetry only redacts a few AWS and Azure names itself.
    """
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter

    def redacted(span: ReadableSpan) -> ReadableSpan:
        attributes = dict(span.attributes or {})
        clean = {key: _redacted_value(value) for key, value in attributes.items()}
        events = list(span.events)
        clean_events = [
            type(event)(
                event.name,
                {key: _redacted_value(value) for key, value in (event.attributes or {}).items()},
                event.timestamp,
            )
            for event in events
        ]
        if clean == attributes and all(
            dict(a.attributes or {}) == dict(b.attributes or {})
            for a, b in zip(events, clean_events, strict=True)
        ):
            return span
        return ReadableSpan(
            name=span.name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=clean,
            events=clean_events,
            links=span.links,
            kind=span.kind,
            status=span.status,
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    class RedactingSpanExporter(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return exporter.export([redacted(span) for span in spans])

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return exporter.force_flush(timeout_millis)

    return RedactingSpanExporter()


# --- Celery ----------------------------------------------------------------------------------

# Per running task: when it started and the context variable tokens to reset after it.
_running: dict[str, tuple[float, list[tuple[ContextVar[str | None], Token[str | None]]]]] = {}


def _before_task_publish(headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    """The enqueuing request's id travels in the task message."""
    request_id = request_id_var.get()
    if request_id and headers is not None:
        headers.setdefault(REQUEST_ID_HEADER, request_id)


def _task_prerun(task_id: str = "", task: Any = None, **kwargs: Any) -> None:
    """Task context for the logs (request id from the message, task id and name), and timing."""
    if _state.tracing_instrumented and _state.tracing_pid != os.getpid():
        start_tracing()
    request = getattr(task, "request", None)
    tokens: list[tuple[ContextVar[str | None], Token[str | None]]] = []
    # An eager task runs inside the request (or task) that called it: that context stays.
    if not getattr(request, "is_eager", False):
        request_id = getattr(request, REQUEST_ID_HEADER, None)
        tokens.append((request_id_var, request_id_var.set(request_id or None)))
        tokens.append((user_id_var, user_id_var.set(None)))
    tokens.append((task_id_var, task_id_var.set(task_id)))
    tokens.append((task_name_var, task_name_var.set(getattr(task, "name", None))))
    _running[task_id] = (time.perf_counter(), tokens)


def _task_postrun(task_id: str = "", **kwargs: Any) -> None:
    _, tokens = _running.pop(task_id, (0.0, []))
    for var, token in reversed(tokens):
        try:
            var.reset(token)
        except ValueError:  # set in another context: nothing of ours to undo here
            var.set(None)


def _record_task(task_id: str | None, task: Any, outcome: str) -> None:
    from config.metrics import record_job

    started = _running.get(task_id or "", (None, []))[0]
    seconds = time.perf_counter() - started if started is not None else 0.0
    record_job(task=getattr(task, "name", None) or "unknown", outcome=outcome, seconds=seconds)


def _task_success(sender: Any = None, **kwargs: Any) -> None:
    _record_task(getattr(getattr(sender, "request", None), "id", None), sender, "succeeded")


def _task_failure(sender: Any = None, task_id: str | None = None, **kwargs: Any) -> None:
    _record_task(task_id, sender, "failed")


def _task_retry(sender: Any = None, request: Any = None, **kwargs: Any) -> None:
    _record_task(getattr(request, "id", None), sender, "retried")


def _worker_process_init(**kwargs: Any) -> None:
    start_tracing()


def _keep_django_logging(**kwargs: Any) -> None:
    """Celery's setup_logging: a receiver stops Celery from replacing Django's LOGGING."""
    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


def _connect_celery_signals() -> None:
    from celery import signals

    handlers: list[tuple[Any, Any]] = [
        (signals.before_task_publish, _before_task_publish),
        # Connected before the Celery instrumentation, so tracing is started before its span.
        (signals.task_prerun, _task_prerun),
        (signals.task_postrun, _task_postrun),
        (signals.task_success, _task_success),
        (signals.task_failure, _task_failure),
        (signals.task_retry, _task_retry),
        (signals.worker_process_init, _worker_process_init),
        (signals.setup_logging, _keep_django_logging),
    ]
    for signal, handler in handlers:
        signal.connect(handler, weak=False, dispatch_uid=f"config.observability.{handler.__name__}")
