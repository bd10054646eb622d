"""Start-up checks of the job settings: limits must fit inside the broker's visibility timeout."""

from __future__ import annotations

import pytest

from tests.live import run_manage


@pytest.mark.standalone
def test_time_limit_and_retry_delays_must_fit_in_the_visibility_timeout():
    result = run_manage(
        {
            "CELERY_VISIBILITY_TIMEOUT_SECONDS": "120",
            "CELERY_TASK_TIME_LIMIT_SECONDS": "200",
            "CELERY_TASK_SOFT_TIME_LIMIT_SECONDS": "250",
            "WEBHOOK_RETRY_BACKOFF_MAX_SECONDS": "60",
        },
        "check",
    )

    assert result.returncode != 0
    message = result.stderr
    assert (
        "CELERY_TASK_TIME_LIMIT_SECONDS must be shorter than CELERY_VISIBILITY_TIMEOUT_SECONDS"
        in message
    )
    assert (
        "CELERY_RETRY_BACKOFF_MAX_SECONDS must be shorter than CELERY_VISIBILITY_TIMEOUT_SECONDS"
        in message
    )
    assert (
        "CELERY_TASK_SOFT_TIME_LIMIT_SECONDS must be shorter than CELERY_TASK_TIME_LIMIT_SECONDS"
        in message
    )


@pytest.mark.standalone
def test_short_limits_that_fit_are_accepted():
    result = run_manage(
        {
            "CELERY_VISIBILITY_TIMEOUT_SECONDS": "4",
            "CELERY_TASK_TIME_LIMIT_SECONDS": "3",
            "CELERY_TASK_SOFT_TIME_LIMIT_SECONDS": "2",
            "CELERY_RETRY_BACKOFF_MAX_SECONDS": "2",
            "WEBHOOK_RETRY_BACKOFF_MAX_SECONDS": "2",
            "WEBHOOK_RETENTION_DAYS": "30",
            "FILE_PENDING_PURGE_DAYS": "2",
            "CELERY_RESULT_EXPIRES_DAYS": "3",
        },
        "shell",
        "-c",
        "from django.conf import settings as s; o = s.CELERY_BROKER_TRANSPORT_OPTIONS; "
        "print(o['visibility_timeout'], o['unacked_restore_interval'], "
        "s.CELERY_TASK_TIME_LIMIT, s.CELERY_RESULT_EXPIRES, s.WEBHOOK_RETENTION_DAYS)",
    )

    assert result.returncode == 0, result.stderr
    assert "4 1 3 259200 30" in result.stdout.splitlines()
