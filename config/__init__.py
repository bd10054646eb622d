# First: a Celery worker serving its own metrics may need to name its metrics directory before
# anything imports prometheus_client (config/worker_metrics.py).
from config.worker_metrics import prepare_worker_process

prepare_worker_process()

from config.celery import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
