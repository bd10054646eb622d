"""Webhook settings (webhooks app): how processing of a stored event is retried, and how long
failed events are kept.

The clean-up of old events is scheduled in settings/jobs.py (WEBHOOK_RETENTION_DAYS)."""

from __future__ import annotations

from config.settings.core import env
from config.settings.jobs import CELERY_BROKER_TRANSPORT_OPTIONS, CELERY_TASK_TIME_LIMIT

# --- Webhooks (webhooks app) -----------------------------------------------------------------
# Processing of a stored event is retried this often with exponential back-off and jitter,
# then the event is left `failed` (staff can process it again from the admin).
WEBHOOK_MAX_RETRIES = env.int("WEBHOOK_MAX_RETRIES", 8, minimum=0)
WEBHOOK_RETRY_BACKOFF_SECONDS = env.int("WEBHOOK_RETRY_BACKOFF_SECONDS", 15, minimum=0)
# Keep it under the broker's visibility timeout: Redis hands longer-delayed tasks out twice.
WEBHOOK_RETRY_BACKOFF_MAX_SECONDS = env.int("WEBHOOK_RETRY_BACKOFF_MAX_SECONDS", 1800, minimum=0)
# Events still waiting (or left `processing`) this long get their task sent again.
WEBHOOK_STALE_AFTER_MINUTES = env.int("WEBHOOK_STALE_AFTER_MINUTES", 15, minimum=1)
if WEBHOOK_STALE_AFTER_MINUTES * 60 <= CELERY_TASK_TIME_LIMIT:
    env.problems.append(
        f"WEBHOOK_STALE_AFTER_MINUTES must be longer than the task time limit "
        f"({CELERY_TASK_TIME_LIMIT} seconds), or running events would be sent again."
    )
if CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] <= WEBHOOK_RETRY_BACKOFF_MAX_SECONDS:
    env.problems.append(
        "WEBHOOK_RETRY_BACKOFF_MAX_SECONDS must be shorter than the broker visibility timeout "
        f"({CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout']} seconds)."
    )
# Failed events are kept this long for staff to process them again, then purged with the
# settled ones (processed and ignored events go after WEBHOOK_RETENTION_DAYS). They hold only
# the allowlisted fields of their payload; their raw body is emptied once processing is over.
WEBHOOK_FAILED_RETENTION_DAYS = env.int("WEBHOOK_FAILED_RETENTION_DAYS", 730, minimum=1)
