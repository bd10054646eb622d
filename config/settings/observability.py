"""Observability settings: Prometheus metrics, Sentry, OpenTelemetry traces and logging
(config/metrics.py, config/observability.py)."""

from __future__ import annotations

from pathlib import Path

from config.observability import build_logging
from config.settings.core import APP_VERSION, ENVIRONMENT, IS_DEPLOYED, IS_PRODUCTION, env

# --- Metrics, errors and traces (config/metrics.py, config/observability.py) --------------------
# GET /api/v1/public/metrics: `Authorization: Bearer <METRICS_TOKEN>` when set, else open. Metrics
# name routes, plans and volumes, so staging and production refuse to serve them open unless
# METRICS_PUBLIC=true says the endpoint is reachable only from a private network.
METRICS_TOKEN = env.str("METRICS_TOKEN")
METRICS_PUBLIC = env.bool("METRICS_PUBLIC", False)
if METRICS_TOKEN and len(METRICS_TOKEN) < 16:
    env.problems.append("METRICS_TOKEN must be at least 16 characters.")
if IS_DEPLOYED and not METRICS_TOKEN and not METRICS_PUBLIC:
    env.problems.append(
        f"METRICS_TOKEN is required in {ENVIRONMENT} (or METRICS_PUBLIC=true to serve "
        "/api/v1/public/metrics without a token)."
    )
# Several processes (gunicorn workers) add their metrics up through files in this directory
# (prometheus_client reads it from the environment itself): it must exist and be emptied before
# the server starts.
PROMETHEUS_MULTIPROC_DIR = env.str("PROMETHEUS_MULTIPROC_DIR")
if PROMETHEUS_MULTIPROC_DIR and not Path(PROMETHEUS_MULTIPROC_DIR).is_dir():
    env.problems.append(f"PROMETHEUS_MULTIPROC_DIR={PROMETHEUS_MULTIPROC_DIR} is not a directory.")
# A Celery worker serves its own processes' metrics at GET /metrics on this port (0: it does not),
# with METRICS_TOKEN as above (config/worker_metrics.py).
WORKER_METRICS_PORT = env.int("WORKER_METRICS_PORT", 0, minimum=0)
if WORKER_METRICS_PORT > 65_535:
    env.problems.append(f"WORKER_METRICS_PORT must be a port (got {WORKER_METRICS_PORT}).")
# Errors to Sentry while SENTRY_DSN is set.
SENTRY_DSN = env.str("SENTRY_DSN")
SENTRY_ENVIRONMENT = env.str("SENTRY_ENVIRONMENT", ENVIRONMENT)
SENTRY_RELEASE = env.str("SENTRY_RELEASE", APP_VERSION)
# Traces (OTLP over HTTP, e.g. http://otel-collector:4318) while the endpoint is set.
OTEL_EXPORTER_OTLP_ENDPOINT = env.str("OTEL_EXPORTER_OTLP_ENDPOINT").rstrip("/")
OTEL_SERVICE_NAME = env.str("OTEL_SERVICE_NAME", "groundwork")
for _name, _url in (
    ("SENTRY_DSN", SENTRY_DSN),
    ("OTEL_EXPORTER_OTLP_ENDPOINT", OTEL_EXPORTER_OTLP_ENDPOINT),
):
    if _url and not _url.startswith(("http://", "https://")):
        env.problems.append(f"{_name} must be an http:// or https:// URL.")

# --- Logging ---------------------------------------------------------------------------------
LOG_LEVEL = env.choice("LOG_LEVEL", ("debug", "info", "warning", "error", "critical"), "info")
LOG_FORMAT = env.choice("LOG_FORMAT", ("json", "console"), "json" if IS_PRODUCTION else "console")
LOGGING = build_logging(level=LOG_LEVEL.upper(), json=LOG_FORMAT == "json")
