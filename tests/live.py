"""Start the real production server (gunicorn) as a separate process for a test, and talk to it."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

from tests.processes import BASE_DIR, HEALTH, gunicorn


def test_database_url() -> str:
    """A URL for the database the test run uses (PostgreSQL only: SQLite's is in memory)."""
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


@contextmanager
def live_server(env: dict[str, str], *, wait_path: str = HEALTH) -> Iterator[str]:
    """Run gunicorn with `env` layered over ours; yields its base URL, stops it afterwards.

    What the server prints (its logs) can be read with `read_log(url)`.
    """
    with gunicorn(env, ready_path=wait_path) as server:
        _LOGS[server.url] = server.log_path
        yield server.url


_LOGS: dict[str, Path] = {}


def read_log(url: str) -> str:
    """Everything the server at `url` has printed so far."""
    return _LOGS[url].read_text(errors="replace")


def request(
    method: str, url: str, *, headers: dict[str, str] | None = None, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A plain HTTP call: (status, headers, body), errors included."""
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=body)
    try:
        with urllib.request.urlopen(req, timeout=15) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def run_manage(
    env: dict[str, str], *args: str, environment: str | None = "test"
) -> subprocess.CompletedProcess[str]:
    """Run manage.py in a fresh process with exactly `env` (plus PATH, and ENVIRONMENT=test
    unless `environment` says otherwise or `env` sets it): how start-up sees configuration."""
    base = {"PATH": os.environ["PATH"]}
    if environment is not None:
        base["ENVIRONMENT"] = environment
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
