"""What a web worker imports at start: the SDKs that only some requests need stay out.

gunicorn loads config.wsgi in its master and forks the workers; the URLconf loads on the first
request. Every package imported by then is resident in every worker (`make bench-memory` prints
what each costs), so the clients of payment stores, email providers' webhooks and AI providers
are imported on the first request that needs them, not at start. The exception is the SDK of a
configured AI provider: the master imports it before it forks (config/gunicorn.py), one copy
shared by every worker, so no worker pauses for the import at its first call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

# Production settings, as a deployed worker starts: nothing here is reached (no connection is
# opened at start-up).
PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": "w" * 20 + "0rk3r-1mp0rts-s3cr3t-k3y-w1th-3nough-3ntr0py-xyz",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "api.example.com",
    "DATABASE_URL": "postgres://app:pw@db.internal:5432/app",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "AUTH_JWT_SECRET": "worker-imports-jwt-secret-long-enough-0123456789",
    "METRICS_TOKEN": "metrics-scrape-token-0123456789",
    "AI_DEFAULT_PROVIDER": "openai",
    "OPENAI_API_KEY": "sk-worker-imports-not-a-real-key",
}

# Imported only by the requests that use them (several MiB each).
LAZY = (
    "appstoreserverlibrary",  # App Store data verification
    "cattrs",
    "googleapiclient",  # the Google Play Developer API
    "google.auth",  # Play's service account, Pub/Sub push tokens
    "httplib2",
    "boto3",  # SES subscription confirmation (anymail's SES webhook)
    "botocore",
    "svix",  # Resend's webhook signatures
    "openai",  # AI providers
    "anthropic",
    "pydantic",  # the AI SDKs' models, svix's
)

PROBE = """
import json
import sys

import config.wsgi
from django.urls import get_resolver

get_resolver().url_patterns
print(json.dumps(sorted(sys.modules)))
"""

MASTER_PROBE = """
import json
import runpy
import sys

import config.wsgi

# gunicorn's master loads the app (preload_app), then runs this hook before it forks.
runpy.run_path("config/gunicorn.py")["when_ready"](None)
print(json.dumps(sorted(sys.modules)))
"""


def modules_after(probe: str) -> set[str]:
    """The modules a fresh interpreter with production settings holds after running `probe`."""
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=BASE_DIR,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(BASE_DIR), **PRODUCTION},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_a_worker_starts_without_the_sdks_that_only_some_requests_need():
    modules = modules_after(PROBE)

    imported = [name for name in LAZY if name in modules]

    assert imported == []
    # The probe did load what serves requests.
    assert {"config.urls", "projects.views", "billing.appstore.views", "ai.views"} <= modules


def test_the_server_master_imports_the_configured_providers_sdk_before_it_forks():
    # OpenAI is configured: its SDK is imported once, in the master, and shared by every worker;
    # Anthropic's, not configured, is not.
    modules = modules_after(MASTER_PROBE)

    assert {"openai", "ai.providers.openai"} <= modules
    assert "anthropic" not in modules
