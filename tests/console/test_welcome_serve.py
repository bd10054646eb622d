"""`manage.py welcome --migrate --serve`, the one process of `make run`: it applies the migrations
only when some are pending, prints the banner, then serves (Daphne, with the autoreloader), in
that order; a restart on a migrated database goes straight to the banner and the server."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest

from tests.fakes import free_port
from tests.processes import BASE_DIR, HEALTH, Process, child_env, spawned

APPLYING = "Applying database migrations"
# `make run` on the embedded defaults whatever the suite runs on: the same on every pass.
pytestmark = pytest.mark.standalone


def embedded_env(database: Path, **overrides: str) -> dict[str, str]:
    """The suite's environment on the SQLite file `database`, with no Redis or broker."""
    env = child_env({"DATABASE_URL": f"sqlite:///{database}", **overrides})
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        env.pop(name, None)
    return env


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """A SQLite database where every migration is recorded but `sessions`' (the one left to
    apply): Django's own tables are real, the others only recorded, which keeps it to seconds
    where a full migrate takes minutes."""
    path = tmp_path / "db.sqlite3"
    env = embedded_env(path)
    for args in (["migrate", "auth"], ["migrate", "--fake"]):
        subprocess.run(
            [sys.executable, "manage.py", *args, "--noinput"],
            cwd=BASE_DIR,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM django_migrations WHERE app = 'sessions'")
    return path


@contextmanager
def make_run(database: Path) -> Iterator[Process]:
    """What `make run` runs, on a free port, until its health endpoint answers 200."""
    port = free_port()
    command = [sys.executable, "manage.py", "welcome", "--migrate", "--serve", f"127.0.0.1:{port}"]
    env = embedded_env(database, PYTHONUNBUFFERED="1")
    url = f"http://127.0.0.1:{port}"
    with spawned(command, env, ready=lambda _: ok(url + HEALTH), timeout=90) as process:
        process.url = url
        try:
            yield process
        finally:
            # The autoreloader's child serves: stop the whole group, not only the watcher.
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)


def ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as db:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_run_applies_pending_migrations_then_prints_the_banner_then_serves(database):
    assert "django_session" not in tables(database)

    with make_run(database) as server:
        output = server.output()

    applying = output.index(APPLYING)
    applied = output.index("Applying sessions.0001_initial... OK")
    banner = output.index(f"on {server.url}")
    serving = output.index("Starting ASGI/Daphne")
    assert applying < applied < banner < serving
    assert "django_session" in tables(database)
    # One watcher and the reloader's child that serves: the banner and the check ran once.
    assert output.count(f"on {server.url}") == 1


def test_a_restart_on_a_migrated_database_goes_straight_to_the_banner(database):
    with make_run(database):
        pass

    with make_run(database) as server:
        output = server.output()

    assert APPLYING not in output
    assert output.index(f"on {server.url}") < output.index("Starting ASGI/Daphne")
