"""The Celery app: `celery -A config worker` and `celery -A config beat`.

Configuration comes from Django settings (`CELERY_*`); without a broker, tasks run eagerly in
the calling process so the embedded defaults need no services.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery, shared_task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("groundwork")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def retrying_task(*, max_retries: int = 5) -> Any:
    """`shared_task` with the project's policy for work that may meet a passing failure.

    Acknowledged only after it ran (a killed worker's task runs again, so tasks are idempotent),
    and retried on any exception with exponential back-off and jitter.
    """
    return shared_task(
        acks_late=True,
        autoretry_for=(Exception,),
        retry_backoff=True,
        retry_jitter=True,
        max_retries=max_retries,
    )
