"""The commands the image and the compose services run, run here with their own configuration."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection

from tests import live
from tests.deployment.files import (
    BASE_DIR,
    ENTRYPOINT,
    compose,
    final_stage,
    image_env,
    interpolate,
    local_path,
    service_environment,
)
from tests.fakes import free_port
from tests.processes import spawned

needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")


def _container_env(service: str, tmp_path: Path, **overrides: str) -> dict[str, str]:
    """What `service`'s container sees (image ENV, then compose), with host paths made local."""
    metrics_dir = tmp_path / "prometheus-multiproc"
    metrics_dir.mkdir(exist_ok=True)
    return {
        "PATH": local_path(),
        **image_env(),
        **service_environment(service),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "MEDIA_ROOT": str(tmp_path / "media"),
        **overrides,
    }


def _command(service: str) -> list[str]:
    command = compose()["services"][service]["command"]
    return list(command) if isinstance(command, list) else shlex.split(command)


def _image_command() -> list[str]:
    import json

    return list(json.loads([a for k, a in final_stage() if k == "CMD"][-1]))


def _run(
    command: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.parametrize("service", ["web", "ai", "realtime", "worker", "beat", "migrate"])
@pytest.mark.standalone
def test_the_compose_configuration_passes_the_production_deploy_checks(service, tmp_path):
    result = _run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        _container_env(service, tmp_path),
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("service", ["web", "ai"])
@pytest.mark.standalone
def test_the_production_server_loads_the_app_with_the_compose_configuration(service, tmp_path):
    command = _image_command()
    assert command[0] == "gunicorn"

    result = _run([*command, "--check-config"], _container_env(service, tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", ["worker", "beat"])
@pytest.mark.standalone
def test_the_celery_commands_accept_their_options(service, tmp_path):
    command = _command(service)
    assert command[:3] == ["celery", "-A", "config"]

    result = _run([*command, "--help"], _container_env(service, tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Usage: celery" in result.stdout


@pytest.mark.standalone
def test_a_misspelt_celery_option_would_be_caught(tmp_path):
    result = _run(
        ["celery", "-A", "config", "worker", "--without-minglee", "--help"],
        _container_env("worker", tmp_path),
    )

    assert result.returncode != 0 and "No such option" in result.stderr


@pytest.mark.standalone
def test_collectstatic_runs_with_the_dockerfiles_throwaway_configuration(tmp_path):
    stage = final_stage()
    index, line = next(
        (i, a) for i, (k, a) in enumerate(stage) if k == "RUN" and "collectstatic" in a
    )
    words = shlex.split(line)
    assignments = dict(word.split("=", 1) for word in words[: words.index("python")])
    command = words[words.index("manage.py") + 1 :]
    assert command[0] == "collectstatic"
    static_root = tmp_path / "static"
    # The same command and settings; only STATIC_ROOT (not configurable) points at a tmp folder.
    script = (
        "import sys, django; from django.conf import settings; django.setup(); "
        "settings.STATIC_ROOT = sys.argv[1]; "
        "from django.core.management import call_command; call_command(*sys.argv[2:])"
    )
    env = {
        "PATH": local_path(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **image_env(before=index),
        **assignments,
    }

    result = _run([sys.executable, "-c", script, str(static_root), *command], env)

    assert result.returncode == 0, result.stderr
    assert env["ENVIRONMENT"] == "production"
    # Production's storage writes the manifest of hashed names whitenoise serves.
    assert (static_root / "staticfiles.json").is_file()
    assert list(static_root.glob("admin/css/base.*.css"))


@pytest.mark.standalone
def test_the_entrypoint_empties_the_metrics_directory_then_becomes_the_command(tmp_path):
    metrics = tmp_path / "metrics"
    (metrics / "old").mkdir(parents=True)
    (metrics / "counter_123.db").write_bytes(b"stale")
    (metrics / "old" / "gauge_456.db").write_bytes(b"stale")
    env = {"PATH": os.environ["PATH"], "PROMETHEUS_MULTIPROC_DIR": str(metrics)}

    ran = subprocess.run([str(ENTRYPOINT), "true"], env=env, timeout=10)
    assert ran.returncode == 0
    assert metrics.is_dir() and not list(metrics.iterdir())

    # exec: the command keeps the entrypoint's process (and so receives the container's signals),
    # and its exit status is the container's.
    process = subprocess.Popen(
        [str(ENTRYPOINT), "sh", "-c", 'echo "$$"; exit 7'], env=env, stdout=subprocess.PIPE
    )
    out, _ = process.communicate(timeout=10)
    assert int(out) == process.pid
    assert process.returncode == 7


@pytest.mark.standalone
def test_the_entrypoint_creates_a_missing_metrics_directory_and_needs_none(tmp_path):
    metrics = tmp_path / "not" / "there"

    created = subprocess.run(
        [str(ENTRYPOINT), "true"],
        env={"PATH": os.environ["PATH"], "PROMETHEUS_MULTIPROC_DIR": str(metrics)},
        timeout=10,
    )
    unset = subprocess.run([str(ENTRYPOINT), "true"], env={"PATH": os.environ["PATH"]}, timeout=10)

    assert created.returncode == 0 and metrics.is_dir()
    assert unset.returncode == 0


def _healthcheck(service: str) -> list[str]:
    """The service's health check as an argv (CMD-SHELL runs in sh; $$ is Compose's escape)."""
    test = compose()["services"][service]["healthcheck"]["test"]
    if test[0] == "CMD-SHELL":
        return ["sh", "-c", interpolate(test[1], {})]
    assert test[0] == "CMD"
    return list(test[1:])


@pytest.mark.live
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs PostgreSQL: production refuses SQLite",
)
def test_the_web_health_check_passes_against_the_production_server(live_database_url, tmp_path):
    env = _container_env(
        "web",
        tmp_path,
        DATABASE_URL=live_database_url,
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:1/0"),
    )
    env.pop("PATH")
    with live.live_server(env) as url:
        probe = _healthcheck("web")
        port = url.rsplit(":", 1)[1]
        probe = [part.replace("127.0.0.1:8000", f"127.0.0.1:{port}") for part in probe]
        result = _run(probe, {"PATH": local_path()}, timeout=30)

    assert result.returncode == 0, result.stderr


@pytest.mark.live
@pytest.mark.django_db
@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="needs PostgreSQL: production refuses SQLite",
)
def test_the_realtime_health_check_passes_against_the_compose_command(live_database_url, tmp_path):
    port = free_port()
    command = _command("realtime")
    assert command[command.index("--port") + 1] == "8002"
    command[command.index("--port") + 1] = str(port)
    command[command.index("--host") + 1] = "127.0.0.1"
    env = _container_env(
        "realtime",
        tmp_path,
        DATABASE_URL=live_database_url,
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:1/0"),
    )
    probe = [part.replace(":8002/", f":{port}/") for part in _healthcheck("realtime")]

    assert _run(probe, {"PATH": local_path()}, timeout=30).returncode != 0  # nothing listens yet
    with spawned(command, env, log_path=tmp_path / "realtime.log") as process:
        _wait_for(probe, {"PATH": local_path()}, seconds=60, log=process.log_path)


def _test_env(live_database_url: str) -> dict[str, str]:
    return {
        "PATH": local_path(),
        "ENVIRONMENT": "test",
        "DATABASE_URL": live_database_url,
        "REDIS_URL": os.environ["REDIS_URL"],
    }


def _wait_for(command: list[str], env: dict[str, str], *, seconds: float, log: Path) -> None:
    deadline = time.monotonic() + seconds
    while True:
        result = _run(command, env, timeout=60)
        if result.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"health check still failing:\n{result.stderr}\n{log.read_text()}")
        time.sleep(1)


@pytest.mark.live
@needs_redis
def test_the_worker_health_check_pings_the_compose_worker(live_database_url, tmp_path):
    # In a container, HOSTNAME is the host name, which names the worker's node.
    env = {**_test_env(live_database_url), "HOSTNAME": socket.gethostname()}
    probe = _healthcheck("worker")
    log = tmp_path / "worker.log"

    assert _run(probe, env, timeout=60).returncode != 0  # no worker yet
    with spawned([*_command("worker"), "--concurrency=1"], env, log_path=log, stop_timeout=20):
        _wait_for(probe, env, seconds=60, log=log)


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@needs_redis
def test_the_beat_health_check_passes_once_the_compose_beat_sends_tasks(
    live_database_url, tmp_path
):
    env = _test_env(live_database_url)
    queue = f"deployment-test-{uuid.uuid4().hex}"
    # A task last sent two hours ago and due hourly: beat sends it as soon as it starts.
    seed = (
        "import datetime; from django.utils import timezone; "
        "from django_celery_beat.models import IntervalSchedule, PeriodicTask; "
        "every, _ = IntervalSchedule.objects.get_or_create(every=1, period='hours'); "
        f"PeriodicTask.objects.create(name={queue!r}, task='deployment.test.nothing', "
        f"interval=every, queue={queue!r}, "
        "last_run_at=timezone.now() - datetime.timedelta(hours=2))"
    )
    seeded = _run([sys.executable, "manage.py", "shell", "-c", seed], env)
    assert seeded.returncode == 0, seeded.stderr
    probe = _healthcheck("beat")
    log = tmp_path / "beat.log"

    try:
        assert _run(probe, env).returncode != 0  # nothing sent for 10 minutes
        with spawned(_command("beat"), env, log_path=log, stop_timeout=20):
            _wait_for(probe, env, seconds=60, log=log)
    finally:
        from django_redis import get_redis_connection

        get_redis_connection("default").delete(queue)
        if connection.vendor != "postgresql":  # the file database outlives the test
            _run(
                [
                    sys.executable,
                    "manage.py",
                    "shell",
                    "-c",
                    "from django_celery_beat.models import PeriodicTask; "
                    "PeriodicTask.objects.all().delete()",
                ],
                env,
            )
