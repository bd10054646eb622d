"""Start the real production server (gunicorn) as a separate process for a test."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection

BASE_DIR = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
_LOG_DIR = Path(tempfile.mkdtemp(prefix="groundwork-live-"))
atexit.register(shutil.rmtree, _LOG_DIR, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_database_url() -> str:
    """A URL for the database the test run uses (PostgreSQL only: SQLite's is in memory)."""
    db = connection.settings_dict
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


@contextmanager
def live_server(env: dict[str, str], *, wait_path: str = "/api/v1/public/health") -> Iterator[str]:
    """Run gunicorn with `env` layered over ours; yields its base URL, stops it afterwards.

    What the server prints (its logs) can be read with `read_log(url)`.
    """
    port = free_port()
    log_path = _LOG_DIR / f"server-{port}.log"
    full_env = {**os.environ, "ENVIRONMENT": "test", **env}
    command = [
        str(GUNICORN),
        "config.wsgi:application",
        f"--bind=127.0.0.1:{port}",
        "--workers=1",
        "--threads=2",
        "--worker-class=gthread",
        "--log-level=warning",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    _LOGS[url] = log_path
    try:
        _wait_until_up(url + wait_path, process, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_LOGS: dict[str, Path] = {}


def read_log(url: str) -> str:
    """Everything the server at `url` has printed so far."""
    return _LOGS[url].read_text(errors="replace")


def _wait_until_up(url: str, process: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log_path.read_text(errors='replace')}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except urllib.error.HTTPError:
            return  # it answered
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server did not start:\n{log_path.read_text(errors='replace')}")


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
