"""Start-up checks of the webhook settings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings


def manage_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=settings.BASE_DIR,
        env={"PATH": os.environ["PATH"], "ENVIRONMENT": "test", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.standalone
def test_settings_that_would_send_events_twice_stop_start_up():
    result = manage_check(
        {
            "WEBHOOK_STALE_AFTER_MINUTES": "5",
            "WEBHOOK_RETRY_BACKOFF_MAX_SECONDS": "7200",
            "WEBHOOK_MAX_RETRIES": "-1",
        }
    )

    assert result.returncode != 0
    assert "WEBHOOK_STALE_AFTER_MINUTES must be longer than the task time limit" in result.stderr
    assert "WEBHOOK_RETRY_BACKOFF_MAX_SECONDS must be shorter than" in result.stderr
    assert "WEBHOOK_MAX_RETRIES must be at least 0" in result.stderr


@pytest.mark.standalone
def test_the_defaults_start():
    result = manage_check({})

    assert result.returncode == 0, result.stderr


@pytest.mark.standalone
def test_failed_event_retention_must_be_a_positive_number_of_days():
    result = manage_check({"WEBHOOK_FAILED_RETENTION_DAYS": "0"})

    assert result.returncode != 0
    assert "WEBHOOK_FAILED_RETENTION_DAYS must be at least 1" in result.stderr
