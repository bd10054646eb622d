"""Job settings: Celery (broker, limits, retries, results) and the whole beat schedule.

Periodic tasks are declared here only, in CELERY_BEAT_SCHEDULE (config/celery.py, config/beat.py).
"""

from __future__ import annotations

from typing import Any

from celery.schedules import crontab

from config.settings.cache import REDIS_URL
from config.settings.core import env

# --- Celery ----------------------------------------------------------------------------------
# Without a broker, tasks run eagerly in the calling process (after commit, where callers ask).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A message is acknowledged only after its task ran, and a task whose worker process died (OOM,
# SIGKILL) goes straight back to the queue: tasks run at least once, so they are idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Hard limit (the process running the task is killed) and soft limit (SoftTimeLimitExceeded).
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT_SECONDS", 300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env.int(
    "CELERY_TASK_SOFT_TIME_LIMIT_SECONDS", max(1, CELERY_TASK_TIME_LIMIT - 60), minimum=1
)
# Redis hands an unacknowledged message out again after this long (a whole worker that died takes
# its running tasks' messages with it until then). Longer than any task runs and any retry waits.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 3600, minimum=1)
# Retries of `retrying_task` wait 1, 2, 4, ... seconds (full jitter) up to this.
CELERY_RETRY_BACKOFF_MAX = env.int("CELERY_RETRY_BACKOFF_MAX_SECONDS", 600, minimum=1)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # How often a worker looks for messages left unacknowledged past the visibility timeout.
    "unacked_restore_interval": max(1, min(10, CELERY_VISIBILITY_TIMEOUT // 10)),
    # A broker that hangs (rather than refusing connections) must not hold a request's thread:
    # sending a task gives up after these many seconds and the stored work waits for its sweep.
    "socket_connect_timeout": 3,
    "socket_timeout": 5,
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    env.problems.append(
        "CELERY_TASK_SOFT_TIME_LIMIT_SECONDS must be shorter than CELERY_TASK_TIME_LIMIT_SECONDS."
    )
for _name, _seconds in (
    ("CELERY_TASK_TIME_LIMIT_SECONDS", CELERY_TASK_TIME_LIMIT),
    ("CELERY_RETRY_BACKOFF_MAX_SECONDS", CELERY_RETRY_BACKOFF_MAX),
):
    if _seconds >= CELERY_VISIBILITY_TIMEOUT:
        env.problems.append(
            f"{_name} must be shorter than CELERY_VISIBILITY_TIMEOUT_SECONDS "
            f"({CELERY_VISIBILITY_TIMEOUT}), or Redis would hand the task out twice."
        )

# --- Task results ----------------------------------------------------------------------------
# Results of tasks run by a worker (none when tasks run eagerly) are stored in the database with
# their name, arguments and worker, shown in the admin (failed ones can be run again) and deleted
# after CELERY_RESULT_EXPIRES_DAYS by `celery.backend_cleanup`.
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_RESULT_EXPIRES = env.int("CELERY_RESULT_EXPIRES_DAYS", 7, minimum=1) * 86_400

# --- Scheduled jobs --------------------------------------------------------------------------
# config.beat's scheduler: django-celery-beat's tables, with the declared schedule synced in.
CELERY_BEAT_SCHEDULER = "config.beat:DatabaseScheduler"
# Weekly clean-ups: pending uploads whose upload URL expired more than FILE_PENDING_PURGE_DAYS ago
# (rows and any stored bytes), and processed or ignored webhook events older than
# WEBHOOK_RETENTION_DAYS (failed ones are kept for staff).
FILE_PENDING_PURGE_DAYS = env.int("FILE_PENDING_PURGE_DAYS", 7, minimum=1)
# Daily: failed uploads (a refused confirmation) older than FILE_FAILED_RETENTION_DAYS are deleted.
FILE_FAILED_RETENTION_DAYS = env.int("FILE_FAILED_RETENTION_DAYS", 7, minimum=1)
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", 90, minimum=1)
# Daily: audit events older than AUDIT_RETENTION_DAYS are deleted (0 keeps them for ever).
AUDIT_RETENTION_DAYS = env.int("AUDIT_RETENTION_DAYS", 730, minimum=0)
# Periodic tasks, declared in code; beat's DatabaseScheduler syncs them into its tables.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    # Stored webhook events still waiting (or left `processing`) past WEBHOOK_STALE_AFTER_MINUTES
    # get their task sent again.
    "webhooks-retry-stale-events": {
        "task": "webhooks.tasks.retry_stale_webhook_events",
        "schedule": 300.0,
    },
    # Queued emails never attempted EMAIL_STALE_AFTER_MINUTES after they were written (their
    # task was lost with the broker) get it sent again.
    "notifications-send-unsent-emails": {
        "task": "notifications.tasks.send_unsent_emails",
        "schedule": 300.0,
    },
    # Hourly: entitlements whose period ended are marked expired and their users' plans recomputed.
    "billing-expire-lapsed-entitlements": {
        "task": "billing.tasks.expire_lapsed_entitlements",
        "schedule": 3600.0,
    },
    # Every minute: usage counted in the cache (usage.services) is added to the usage_counters
    # table.
    "usage-flush-counters": {
        "task": "usage.tasks.flush_usage_counters",
        "schedule": 60.0,
    },
    # Hourly: Stripe events of the last STRIPE_RECONCILE_DAYS that never arrived are fetched and
    # processed.
    "billing-reconcile-stripe-events": {
        "task": "billing.tasks.reconcile_stripe_events",
        "schedule": 3600.0,
    },
    "celery.backend_cleanup": {
        "task": "celery.backend_cleanup",
        "schedule": crontab(minute=0, hour=4),
        "options": {"expire_seconds": 12 * 3600},
    },
    "files-purge-expired-uploads": {
        "task": "files.tasks.purge_expired_uploads",
        "schedule": crontab(minute=0, hour=3, day_of_week="sun"),
    },
    "files-purge-failed-uploads": {
        "task": "files.tasks.purge_failed_uploads",
        "schedule": crontab(minute=45, hour=3),
    },
    "webhooks-purge-old-events": {
        "task": "webhooks.tasks.purge_old_webhook_events",
        "schedule": crontab(minute=30, hour=3, day_of_week="sun"),
    },
    # Daily: outbox rows past EMAIL_RETENTION_DAYS (failed and bounced ones past
    # EMAIL_FAILED_RETENTION_DAYS; config/settings/email.py) are deleted.
    "notifications-purge-old-emails": {
        "task": "notifications.tasks.purge_old_emails",
        "schedule": crontab(minute=20, hour=4),
    },
    "audit-delete-old-events": {
        "task": "audit.tasks.delete_old_audit_events",
        "schedule": crontab(minute=15, hour=3),
    },
    "console-send-daily-report": {
        "task": "console.tasks.send_daily_report",
        "schedule": crontab(minute=0, hour=9),
    },
}
