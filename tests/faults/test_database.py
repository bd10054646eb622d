"""PostgreSQL goes away under a production gunicorn, and comes back.

While it is down: readiness says 503 within 5 seconds, API calls get the 503 envelope (never a
500 or a traceback), liveness still answers and no worker is killed or restarted. Once it is
back, the same worker processes serve again within 10 seconds.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.faults.conftest import Answer, call, log_since, mint_token, stopped
from tests.faults.services import PostgresCluster
from tests.processes import HEALTH, Process

pytestmark = [pytest.mark.faults, pytest.mark.live]

PROJECTS = "/api/v1/app/projects"
READY = HEALTH + "/ready"
SESSION = "sessionid=" + "a1b2c3d4" * 4
OUTAGE_SECONDS = 16


def _unavailable(answer: Answer) -> bool:
    return (
        answer.status == 503
        and answer.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        and answer.json()["error"]["details"]["service"] == "database"
        and answer.headers.get("Retry-After") == "5"
    )


def test_postgres_down_is_a_fast_503_and_the_same_workers_serve_once_it_is_back(
    server: Process, cluster: PostgresCluster
) -> None:
    token = mint_token()
    created = call(server.url + PROJECTS, method="POST", token=token, body={"name": "before"})
    assert created.status == 201, created.body
    workers = sorted(server.children())
    # Several connections in each worker's pool, all of which the restart will kill.
    with ThreadPoolExecutor(4) as pool:
        warm = list(pool.map(lambda _: call(server.url + PROJECTS, token=token).status, range(12)))
    assert warm == [200] * 12
    offset = server.log_path.stat().st_size

    with stopped(cluster):
        stopped_at = time.monotonic()
        ready = call(server.url + READY, timeout=10)
        assert ready.status == 503 and time.monotonic() - stopped_at <= 5, ready
        assert ready.json()["components"]["database"]["status"] == "unhealthy"
        # Several calls at once (every worker thread busy): each ends in the envelope, in
        # seconds, and liveness answers meanwhile.
        calls = [
            lambda: call(server.url + PROJECTS, token=token, timeout=15),
            lambda: call(
                server.url + PROJECTS, method="POST", token=token, body={"name": "x"}, timeout=15
            ),
            # A user never seen before: authentication itself needs the database.
            lambda: call(server.url + PROJECTS, token=mint_token(), timeout=15),
            # Outside DRF: the admin loads the session (a database row) of its cookie.
            lambda: call(server.url + "/admin/", headers={"Cookie": SESSION}, timeout=15),
        ]
        with ThreadPoolExecutor(len(calls)) as pool:
            answers = [pool.submit(one) for one in calls]
            assert call(server.url + HEALTH, timeout=10).status == 200
            results = [answer.result() for answer in answers]
        assert all(_unavailable(answer) for answer in results), [a.body for a in results]
        assert max(answer.seconds for answer in results) <= 8
        # An outage of some length: readiness keeps saying 503 in seconds, and the pools'
        # retries back off meanwhile (they must still reconnect soon after the restart).
        while time.monotonic() - stopped_at < OUTAGE_SECONDS:
            again = call(server.url + READY, timeout=10)
            assert again.status == 503 and again.seconds <= 5
        assert sorted(server.children()) == workers

    restarted_at = time.monotonic()
    # PostgreSQL accepts connections again (pg_ctl waited for it): the very first calls succeed,
    # on every worker, though the restart killed every connection their pools held (each is
    # checked as it is handed out, and the pools reconnect within seconds).
    with ThreadPoolExecutor(4) as pool:
        after = list(pool.map(lambda _: call(server.url + PROJECTS, token=token), range(12)))
    assert [answer.status for answer in after] == [200] * 12, [a.body for a in after]
    assert time.monotonic() - restarted_at <= 10
    assert call(server.url + READY).status == 200
    assert server.running() and sorted(server.children()) == workers
    log = log_since(server.log_path, offset)
    assert "Traceback" not in log, log
    assert "Internal Server Error" not in log, log
    assert "WORKER TIMEOUT" not in log and "Booting worker" not in log, log
    # Each refused call said why, in one line.
    assert "request failed: SERVICE_UNAVAILABLE" in log, log
    assert "request failed: database unavailable" in log, log  # the admin's
