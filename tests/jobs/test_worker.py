"""Real Celery workers and beat on Redis and the shared database: a task killed mid-run runs again
with its effect applied once, retries back off, beat sends scheduled tasks, and a failed task's
result shows in the admin and can be run again from there."""

from __future__ import annotations

import json
import os
import re
import signal
import time
import uuid
from contextlib import AbstractContextManager
from itertools import pairwise
from pathlib import Path

import pytest
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from django_celery_results.models import TaskResult
from django_redis import get_redis_connection

from tests.jobs import worker_tasks
from tests.jobs.worker_tasks import EFFECT_PROVIDER, QUEUE, key, redis_list, redis_value
from tests.processes import (
    Process,
    celery,
    celery_worker,
    default_queue,
    purge_queues,
    sending_to_broker,
    wait_for,
    worker_env,
)
from webhooks.models import WebhookEvent

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)"),
]


@pytest.fixture
def database_url(live_database_url) -> str:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the worker and the test must share one database")
    purge_queues(QUEUE, default_queue())
    return str(live_database_url)


def jobs_worker(
    name: str, env: dict[str, str], *, log_path: Path, queue: str = QUEUE
) -> AbstractContextManager[Process]:
    """A worker with one child process on the test tasks' queue (or another)."""
    return celery_worker(
        env,
        name=name,
        queue=queue,
        include="tests.jobs.worker_tasks",
        pool="prefork",
        concurrency=1,
        log_path=log_path,
    )


@pytest.fixture
def token() -> str:
    return uuid.uuid4().hex


def test_a_child_killed_mid_run_runs_again_at_once_and_its_effect_happens_once(
    database_url, token, tmp_path
):
    log_path = tmp_path / "worker.log"
    with jobs_worker("jobs-child", worker_env(database_url), log_path=log_path) as worker:
        with sending_to_broker():
            sent = worker_tasks.apply_once.apply_async(args=[token, 60], queue=QUEUE)
        wait_for(
            lambda: redis_value(key(token, "attempts")),
            timeout=30,
            what="attempt 1",
            log=log_path,
        )
        child = int(redis_list(key(token, "pids"))[0])
        assert child != worker.pid
        os.kill(child, signal.SIGKILL)
        finished = wait_for(
            lambda: redis_value(key(token, "finished")),
            timeout=30,
            what="attempt 2",
            log=log_path,
        )
        result = wait_for(
            lambda: TaskResult.objects.filter(task_id=sent.id, status="SUCCESS").first(),
            timeout=10,
            what="the result",
            log=log_path,
        )

    pids = [int(pid) for pid in redis_list(key(token, "pids"))]
    assert finished == "2" and len(pids) == 2
    assert pids[1] not in (child, worker.pid)  # a new child ran it again
    assert WebhookEvent.objects.filter(provider=EFFECT_PROVIDER, event_id=token).count() == 1
    assert result.task_name == "tests.jobs.worker_tasks.apply_once"
    assert "WorkerLostError" in log_path.read_text(errors="replace")


def test_a_whole_worker_killed_mid_run_leaves_the_task_to_the_next_worker(
    database_url, token, tmp_path
):
    # A short visibility timeout, so the killed worker's message is handed out again quickly.
    env = worker_env(
        database_url,
        CELERY_VISIBILITY_TIMEOUT_SECONDS="4",
        CELERY_TASK_TIME_LIMIT_SECONDS="3",
        CELERY_TASK_SOFT_TIME_LIMIT_SECONDS="2",
        CELERY_RETRY_BACKOFF_MAX_SECONDS="2",
        WEBHOOK_RETRY_BACKOFF_MAX_SECONDS="2",
    )
    log_path = tmp_path / "worker.log"
    with jobs_worker("jobs-first", env, log_path=log_path) as first:
        with sending_to_broker():
            worker_tasks.apply_once.apply_async(args=[token, 2.5], queue=QUEUE)
        wait_for(
            lambda: redis_value(key(token, "attempts")),
            timeout=30,
            what="attempt 1",
            log=log_path,
        )
        os.killpg(first.pid, signal.SIGKILL)  # the main process and its child
        first.wait()
        killed_at = time.monotonic()
    assert redis_value(key(token, "finished")) is None

    with jobs_worker("jobs-second", env, log_path=log_path):
        wait_for(
            lambda: redis_value(key(token, "finished")),
            timeout=40,
            what="attempt 2",
            log=log_path,
        )
        waited = time.monotonic() - killed_at

    assert redis_value(key(token, "finished")) == "2"
    assert waited >= 3  # restored only once the visibility timeout had passed
    assert WebhookEvent.objects.filter(provider=EFFECT_PROVIDER, event_id=token).count() == 1


def test_a_failing_task_retries_with_growing_jittered_delays_then_succeeds(
    database_url, token, tmp_path
):
    log_path = tmp_path / "worker.log"
    with jobs_worker("jobs-retry", worker_env(database_url), log_path=log_path):
        with sending_to_broker():
            sent = worker_tasks.flaky.apply_async(args=[token, 3], queue=QUEUE)
        result = wait_for(
            lambda: TaskResult.objects.filter(task_id=sent.id, status="SUCCESS").first(),
            timeout=40,
            what="success after retries",
            log=log_path,
        )

    log = log_path.read_text(errors="replace")
    countdowns = [float(seconds) for seconds in re.findall(r"retry: Retry in ([\d.]+)s", log)]
    times = [float(moment) for moment in redis_list(key(token, "times"))]
    gaps = [later - earlier for earlier, later in pairwise(times)]
    assert result.result == "4"
    assert len(countdowns) == 3 and len(gaps) == 3, log
    for retry, (countdown, gap) in enumerate(zip(countdowns, gaps, strict=True)):
        assert 0 <= countdown <= 2**retry  # 1, 2, 4 seconds at most: exponential, full jitter
        assert gap >= countdown - 0.2  # and the worker really waited it


def test_beat_sends_scheduled_tasks_from_the_database_to_a_worker(database_url, token, tmp_path):
    every_second, _ = IntervalSchedule.objects.get_or_create(
        every=1, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.create(
        name=f"jobs-test-tick-{token}",
        task="tests.jobs.worker_tasks.tick",
        interval=every_second,
        args=f'["{token}"]',
        queue=QUEUE,
    )
    env = worker_env(database_url)
    log_path = tmp_path / "celery.log"
    beat_args = ["beat", "--loglevel=info", f"--pidfile={tmp_path / 'beat.pid'}"]
    with (
        jobs_worker("jobs-beat", env, log_path=log_path),
        celery(beat_args, env, log_path=log_path),
    ):
        wait_for(
            lambda: int(redis_value(key(token, "attempts")) or 0) >= 2,
            timeout=40,
            what="two scheduled runs",
            log=log_path,
        )

    # Beat synced the declared schedule when it started; the staff-made task stayed as it was.
    declared = PeriodicTask.objects.get(name="files-purge-expired-uploads")
    assert (declared.enabled, declared.crontab.day_of_week, declared.crontab.hour) == (
        True,
        "sun",
        "3",
    )
    assert PeriodicTask.objects.get(name=f"jobs-test-tick-{token}").enabled


def test_a_failed_task_shows_in_the_admin_and_runs_again_from_it(
    database_url, token, tmp_path, staff, client
):
    options = {"nested": {"list": [1, 2.5, None, True]}, "text": "x" * 2000}
    log_path = tmp_path / "worker.log"
    # Sent again from the admin, a task follows its normal routing: the default queue here.
    worker = jobs_worker(
        "jobs-rerun", worker_env(database_url), queue=default_queue(), log_path=log_path
    )
    with worker:
        with sending_to_broker():
            sent = worker_tasks.fails_until_allowed.apply_async(
                args=[token], kwargs={"options": options}
            )
        failed = wait_for(
            lambda: TaskResult.objects.filter(task_id=sent.id, status="FAILURE").first(),
            timeout=30,
            what="the failure",
            log=log_path,
        )
        page = client.get("/admin/django_celery_results/taskresult/?status__exact=FAILURE")
        assert page.status_code == 200
        assert sent.id in page.content.decode()
        detail = client.get(f"/admin/django_celery_results/taskresult/{failed.pk}/change/")
        assert "not allowed yet" in detail.content.decode()

        get_redis_connection("default").set(key(token, "allowed"), 1, ex=600)
        with sending_to_broker():
            response = client.post(
                "/admin/django_celery_results/taskresult/",
                {"action": "run_again", "_selected_action": [failed.pk]},
                follow=True,
            )
        assert response.status_code == 200
        assert "1 task(s) sent again" in response.content.decode()
        rerun = wait_for(
            lambda: TaskResult.objects.filter(
                task_name="tests.jobs.worker_tasks.fails_until_allowed", status="SUCCESS"
            ).first(),
            timeout=30,
            what="the run again",
            log=log_path,
        )

    received = [json.loads(item) for item in redis_list(key(token, "received"))]
    assert received == [{"token": token, "options": options}] * 2
    assert rerun.task_id != sent.id
    assert TaskResult.objects.get(task_id=sent.id).status == "FAILURE"
