"""A Celery worker serves its own metrics on WORKER_METRICS_PORT (config/worker_metrics.py): a
real `celery -A config worker` with a prefork pool runs tasks sent through the broker, and a
scrape of its port shows them, summed over its pool's processes, without any directory shared
with a web server."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest
from django.db import connection

from config.worker_metrics import is_worker_command, serve
from files.tasks import delete_stored_objects
from tests.deployment.files import compose, service_environment
from tests.fakes import free_port
from tests.live import request, run_manage
from tests.observability.servers import Samples, value
from tests.processes import (
    celery_worker,
    default_queue,
    logged,
    purge_queues,
    sending_to_broker,
    wait_for,
    worker_env,
)

JOBS = "groundwork_jobs_total"
TASK = "files.tasks.delete_stored_objects"
TOKEN = "worker-metrics-token-0123456789"


def scrape(port: int, token: str | None = TOKEN, path: str = "/metrics") -> tuple[int, bytes]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, _, body = request("GET", f"http://127.0.0.1:{port}{path}", headers=headers)
    return status, body


def samples_of(body: bytes) -> Samples:
    from prometheus_client.parser import text_string_to_metric_families

    found: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def jobs_done(port: int) -> float:
    status, body = scrape(port)
    assert status == 200, body[:300]
    return value(samples_of(body), JOBS, task=TASK, outcome="succeeded")


def own_directories() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("groundwork-worker-metrics-*"))


@pytest.fixture
def database_url(live_database_url) -> str:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the worker and the test must share one database")
    purge_queues(default_queue())
    return str(live_database_url)


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a broker (REDIS_URL)")
def test_a_worker_serves_the_jobs_its_pool_ran_on_its_own_port(database_url, tmp_path):
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ  # nothing shared with anyone
    port = free_port()
    env = worker_env(database_url, WORKER_METRICS_PORT=str(port), METRICS_TOKEN=TOKEN)
    before = own_directories()
    with celery_worker(
        env, pool="prefork", concurrency=2, log_path=tmp_path / "worker.log"
    ) as worker:
        wait_for(
            lambda: logged(f"worker metrics served on port {port}")(worker),
            what="the metrics endpoint",
            log=worker.output,
        )
        [directory] = own_directories() - before
        assert jobs_done(port) == 0

        with sending_to_broker():
            for _ in range(4):
                delete_stored_objects.delay([f"worker-metrics/{uuid.uuid4().hex}"])

        # Tasks run in the pool's children, never in the main process that answers: the count
        # is theirs, summed.
        wait_for(
            lambda: jobs_done(port) == 4, what="4 jobs in the worker's metrics", log=worker.output
        )
        _, body = scrape(port)
        assert value(samples_of(body), "groundwork_job_duration_seconds_count", task=TASK) == 4
        # One file of counters per process: the pool's children wrote theirs there.
        counted_by = {int(path.stem.split("_")[-1]) for path in directory.glob("counter_*.db")}
        assert counted_by & set(worker.children())

        # The token guards it, as it guards the web's scrape; nothing else is served.
        assert scrape(port, token=None)[0] == 401
        assert scrape(port, token="wrong-token-0123456789")[0] == 401
        assert scrape(port, path="/api/v1/public/health")[0] == 404
        assert worker.poll() is None

    # The directory the worker made for itself went with it.
    assert not directory.exists()


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a broker (REDIS_URL)")
def test_a_worker_given_a_directory_uses_it_and_leaves_it(database_url, tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    port = free_port()
    env = worker_env(
        database_url,
        WORKER_METRICS_PORT=str(port),
        METRICS_TOKEN="",
        PROMETHEUS_MULTIPROC_DIR=str(directory),
    )
    before = own_directories()
    with celery_worker(
        env, pool="prefork", concurrency=1, log_path=tmp_path / "worker.log"
    ) as worker:
        wait_for(
            lambda: logged(f"worker metrics served on port {port}")(worker),
            what="the metrics endpoint",
            log=worker.output,
        )
        with sending_to_broker():
            delete_stored_objects.delay(["worker-metrics/one"])
        wait_for(lambda: jobs_done(port) == 1, what="the job", log=worker.output)
        assert own_directories() == before
        assert list(directory.glob("counter_*.db"))
        assert scrape(port, token=None)[0] == 200  # no METRICS_TOKEN: open

    assert directory.is_dir()


def test_the_endpoint_answers_the_scrape_and_guards_it_with_the_token(settings):
    settings.METRICS_TOKEN = TOKEN
    port = free_port()
    server = serve(port=port, host="127.0.0.1")
    try:
        status, body = scrape(port)
        assert status == 200
        assert b"# TYPE groundwork_jobs_total counter" in body
        status, body = scrape(port, token=None)
        assert status == 401
        assert b'"code": "AUTHENTICATION_ERROR"' in body
        assert request("POST", f"http://127.0.0.1:{port}/metrics")[0] == 405
        assert scrape(port, path="/")[0] == 404
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("argv", "is_worker"),
    [
        (["/venv/bin/celery", "-A", "config", "worker", "--loglevel=info"], True),
        (["/usr/lib/python3/site-packages/celery/__main__.py", "-A", "config", "worker"], True),
        (["/venv/bin/celery", "-A", "config", "beat"], False),
        (["/venv/bin/celery", "-A", "config", "inspect", "ping"], False),
        (["manage.py", "runserver"], False),
        (["/venv/bin/gunicorn", "config.wsgi:application"], False),
    ],
)
def test_only_a_celery_worker_counts_as_a_worker(argv, is_worker):
    assert is_worker_command(argv) is is_worker


def test_a_worker_makes_its_directory_before_the_metrics_library_loads(tmp_path):
    """What `celery -A config worker` does first, in a fresh process: import `config`."""
    script = (
        "import os, sys; sys.argv = ['celery', '-A', 'config', 'worker']; import config; "
        "from prometheus_client import values; "
        "print(os.environ.get('PROMETHEUS_MULTIPROC_DIR'), values.ValueClass.__name__)"
    )
    made = run_python(script, WORKER_METRICS_PORT="9808", TMPDIR=str(tmp_path))
    unset = run_python(script, TMPDIR=str(tmp_path))

    directory, value_class = made.split()
    assert Path(directory).parent == tmp_path and value_class == "MmapedValue"
    assert not Path(directory).exists()  # removed when the process exited
    assert unset.split()[0] == "None"


def run_python(script: str, **env: str) -> str:
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=Path(__file__).resolve().parents[2],
        env={**base, "ENVIRONMENT": "test", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_a_port_that_is_not_one_stops_start_up(port):
    result = run_manage({"WORKER_METRICS_PORT": port}, "check")

    assert result.returncode != 0
    assert "WORKER_METRICS_PORT" in result.stderr


def test_compose_serves_the_workers_metrics_on_its_own_port_only():
    worker = service_environment("worker")

    assert worker["WORKER_METRICS_PORT"] == "9808"
    for service in ("web", "ai", "realtime", "beat", "migrate"):
        assert not service_environment(service).get("WORKER_METRICS_PORT"), service
    # Its metrics directory is its own container's (no volume shares it with web).
    directory = worker["PROMETHEUS_MULTIPROC_DIR"]
    volumes = compose()["services"]["worker"].get("volumes", [])
    assert not [volume for volume in volumes if directory in str(volume)]
    assert "9808" in [str(port) for port in compose()["services"]["worker"]["expose"]]
