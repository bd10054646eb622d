"""The Celery app: `celery -A config worker` and `celery -A config beat`.

Configuration comes from Django settings (`CELERY_*`); without a broker, tasks run eagerly in
the calling process so the embedded defaults need no services.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("groundwork")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
