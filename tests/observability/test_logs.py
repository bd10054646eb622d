"""JSON log lines: a request's and those of the task it enqueued (run by a real Celery worker on
Redis) carry the same request id."""

from __future__ import annotations

import os
import uuid

import pytest
from django.conf import settings

from accounts.tokens import mint_development_token
from tests.live import request
from tests.observability.servers import json_lines
from tests.processes import celery_worker, gunicorn, wait_for


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
def test_the_request_id_travels_from_the_request_into_the_task_it_enqueued(
    live_database_url, tmp_path
):
    request_id = f"logs-{uuid.uuid4().hex}"
    token = mint_development_token(email=f"leaving-{uuid.uuid4().hex[:8]}@example.com")
    env = {
        "DATABASE_URL": live_database_url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "CELERY_BROKER_URL": os.environ["REDIS_URL"],
        "CACHE_KEY_PREFIX": settings.CACHE_KEY_PREFIX,
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "info",
    }
    with (
        celery_worker(env, log_path=tmp_path / "worker.log") as worker,
        gunicorn(env, log_path=tmp_path / "server.log", workers=1, config_file=True) as server,
    ):
        # Deleting one's account erases the personal data in a background task.
        status, _, body = request(
            "DELETE",
            server.url + "/api/v1/app/users/me",
            headers={"X-Request-ID": request_id, "Authorization": f"Bearer {token}"},
        )
        assert status == 204, body
        worker_log = tmp_path / "worker.log"

        def task_lines():
            lines = json_lines(worker_log.read_text(errors="replace"))
            return [
                line
                for line in lines
                if line.get("task_name") == "accounts.tasks.erase_user"
                and "succeeded" in line["message"]
            ]

        wait_for(task_lines, what="the task's log lines", log=worker_log.read_text, timeout=60)
        assert worker.poll() is None
        web = [line for line in json_lines(server.log()) if line.get("request_id") == request_id]

    access = [line for line in web if line["logger"] == "groundwork.access"]
    assert len(access) == 1 and access[0]["status"] == 204
    assert {"timestamp", "level", "logger", "message", "user_id"} <= set(access[0])
    assert access[0]["user_id"]
    task = [
        line
        for line in json_lines(worker_log.read_text(errors="replace"))
        if line.get("task_name") == "accounts.tasks.erase_user"
    ]
    assert task and {line["request_id"] for line in task} == {request_id}
    assert all(line["task_id"] for line in task)
    assert {"timestamp", "level", "logger", "message"} <= set(task[0])
