"""The Celery app: `celery -A config worker` and `celery -A config beat`.

Configuration comes from Django settings (`CELERY_*`): a Redis broker, JSON only, late
acknowledgement (a task whose worker dies runs again), time limits, and results stored in the
database for the admin. Without a broker, tasks run eagerly in the calling process so the
embedded defaults need no services (and store no results).

Periodic tasks are declared in `settings.CELERY_BEAT_SCHEDULE` and kept in the database by
`config.beat`.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from celery import Celery, Task, shared_task
from celery.exceptions import Retry
from celery.signals import before_task_publish
from prometheus_client import Counter

from config import worker_metrics

if TYPE_CHECKING:
    from django_celery_results.models import TaskResult

    _Task = Task[Any, Any]
else:
    _Task = Task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("groundwork")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# A worker serves its own metrics on WORKER_METRICS_PORT (config/worker_metrics.py).
worker_metrics.connect_signals()

logger = logging.getLogger(__name__)

ENQUEUE_FAILURES = Counter(
    "groundwork_task_enqueue_failures",
    "Tasks that could not be sent to the broker (their work is stored; a sweep sends it later).",
    ["task"],
)


def enqueue_stored_work(task: _Task, *args: Any) -> bool:
    """Send `task(*args)` for work already stored in the database; True when it was sent.

    When the broker cannot take it (Redis down) the caller still succeeds, since nothing is
    lost: the failure is logged in one line (no traceback) and counted in
    `groundwork_task_enqueue_failures_total{task}`, and the stored row waits for its sweep.
    Run eagerly (no broker), the task runs here and its errors propagate as usual.
    """
    if task.app.conf.task_always_eager:
        task.apply_async(args=args)
        return True
    try:
        task.apply_async(args=args)
    except Exception as error:  # noqa: BLE001 - kombu and redis raise many kinds when down
        ENQUEUE_FAILURES.labels(task=task.name).inc()
        logger.warning(
            "task %s not sent, the broker is unavailable (the stored work waits for its "
            "sweep): %s: %s",
            task.name,
            type(error).__name__,
            error,
        )
        return False
    return True


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off: `base` seconds doubled per retry, capped at `ceiling`, jittered.

    `base` and `ceiling` are seconds or the names of settings, read each time a countdown is
    computed (so tests and operators can change them). Jitter "full" waits a random time up to
    the delay; "equal" a random point in its upper half, so retries of work that failed together
    spread out yet keep a minimum spacing.
    """

    base: float | str
    ceiling: float | str
    jitter: Literal["full", "equal"] = "full"

    def countdown(self, *, retries: int) -> float:
        """Seconds before the retry that follows `retries` earlier retries."""
        base, ceiling = _seconds(self.base), _seconds(self.ceiling)
        delay = float(min(ceiling, base * 2 ** min(retries, 32)))
        if self.jitter == "equal":
            return delay / 2 + random.uniform(0, delay / 2)  # noqa: S311 - jitter, not a secret
        return random.uniform(0, delay)  # noqa: S311 - jitter, not a secret


def _seconds(value: float | str) -> float:
    from django.conf import settings

    return float(getattr(settings, value) if isinstance(value, str) else value)


# Retries of `retrying_task`: 1, 2, 4, ... seconds up to CELERY_RETRY_BACKOFF_MAX, full jitter.
TASK_BACKOFF = Backoff(base=1, ceiling="CELERY_RETRY_BACKOFF_MAX")


class RetryingTask(_Task):
    """The task class of `retrying_task`: a retry without a countdown (or eta) of its own waits
    `backoff.countdown(...)` for the retries so far."""

    backoff: Backoff = TASK_BACKOFF

    def retry(
        self,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
        exc: Exception | None = None,
        throw: bool = True,
        eta: datetime | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Retry:
        """`Task.retry`, waiting the countdown of the task's back-off unless told otherwise."""
        if eta is None and countdown is None:
            countdown = self.backoff.countdown(retries=self.request.retries)
        return super().retry(args, kwargs, exc, throw, eta, countdown, max_retries, **options)


def retrying_task(
    *, max_retries: int | None = 5, backoff: Backoff = TASK_BACKOFF, **options: Any
) -> Any:
    """`shared_task` with the project's policy for work that may meet a passing failure.

    For tasks that call the outside world (storage, email, payment and store APIs). Acknowledged
    only after it ran, and sent again when its worker process dies mid-run (so tasks are
    idempotent); retried on any exception with exponential back-off (`backoff`, by default
    `TASK_BACKOFF`: 1, 2, 4, ... seconds, capped at CELERY_RETRY_BACKOFF_MAX_SECONDS, full jitter),
    then recorded as failed. `options` go to `shared_task` (e.g. `bind=True`,
    `dont_autoretry_for=(...)`, `queue="..."`); a task that retries itself (`autoretry_for=()`)
    gets the countdown of its back-off from `self.retry()`, or computes it with
    `self.backoff.countdown(...)` first.
    """
    policy: dict[str, Any] = {
        "base": RetryingTask,
        "backoff": backoff,
        "acks_late": True,
        "reject_on_worker_lost": True,
        "autoretry_for": (Exception,),
        "max_retries": max_retries,
    }
    return shared_task(**{**policy, **options})


def is_final_attempt() -> bool:
    """True when the running task may not be retried any more (its last attempt)."""
    from celery import current_task

    return bool(current_task.request.retries >= (current_task.max_retries or 0))


@before_task_publish.connect(dispatch_uid="config.celery.record_arguments")
def record_arguments(headers: dict[str, Any], body: Any, **kwargs: Any) -> None:
    """Record a task's arguments in full (JSON) where Celery keeps their display form.

    Celery shortens `argsrepr`/`kwargsrepr` to a kilobyte of Python repr; the results stored for
    the admin keep them, so with the full JSON a failed task can be sent again exactly.
    """
    if not isinstance(headers, dict) or "argsrepr" not in headers:
        return  # not a task message of protocol 2
    try:
        args, task_kwargs = body[0], body[1]
        headers["argsrepr"] = json.dumps(list(args))
        headers["kwargsrepr"] = json.dumps(dict(task_kwargs))
    except (TypeError, ValueError, IndexError, KeyError):
        return  # leave Celery's own rendering


@dataclass
class RerunOutcome:
    """What `task_results_rerun` did: ids of the tasks sent, and why others were not."""

    sent: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def task_results_rerun(*, results: Iterable[TaskResult]) -> RerunOutcome:
    """Send failed tasks again, by name, with the arguments stored with their results.

    Only results with status FAILURE are sent; a task whose name is not a registered task, or
    whose arguments were not stored in full, is skipped with the reason (keyed by the old task
    id). The new tasks get new ids (and results) and follow the tasks' normal routing.
    """
    app.loader.import_default_modules()  # every app's tasks module, as a worker has them
    outcome = RerunOutcome()
    for result in results:
        if result.status != "FAILURE":
            outcome.skipped[result.task_id] = f"status is {result.status}, not FAILURE"
            continue
        task = app.tasks.get(result.task_name or "")
        if task is None:
            outcome.skipped[result.task_id] = f"{result.task_name!r} is not a known task"
            continue
        args = _stored_arguments(result.task_args, "[]")
        kwargs = _stored_arguments(result.task_kwargs, "{}")
        if not isinstance(args, list | tuple) or not isinstance(kwargs, dict):
            outcome.skipped[result.task_id] = "its arguments were not stored in full"
            continue
        try:
            sent = task.apply_async(args=tuple(args), kwargs=kwargs)
        except Exception as error:  # noqa: BLE001 - the broker is down (or, eager, it failed)
            outcome.skipped[result.task_id] = f"it could not be sent: {error}"
            continue
        outcome.sent.append(str(sent.id))
    return outcome


def _stored_arguments(stored: str | None, empty: str) -> Any:
    """Arguments as django-celery-results stores them: the JSON encoding of their text form,
    which is JSON (see `record_arguments`) or, for older messages, a Python repr. None when that
    cannot be read back (e.g. a repr Celery shortened)."""
    try:
        text = json.loads(stored) if stored else empty
    except ValueError:
        return None
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
