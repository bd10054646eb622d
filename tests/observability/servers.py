"""Real processes for the observability tests: gunicorn with config/gunicorn.py, a Celery worker,
a local HTTP receiver standing in for Sentry and an OTLP collector, and a metrics scrape."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.live import BASE_DIR, free_port, request

GUNICORN = Path(sys.executable).with_name("gunicorn")
CELERY = Path(sys.executable).with_name("celery")


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def worker_pids(self) -> list[int]:
        """The pids of the master's worker processes (children in /proc)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()]


@contextmanager
def gunicorn(
    env: dict[str, str],
    log_path: Path,
    *,
    workers: int = 2,
    app: str = "config.wsgi:application",
) -> Iterator[Server]:
    """gunicorn with the production config file (hooks included), `workers` workers."""
    port = free_port()
    full_env = {
        **os.environ,
        "ENVIRONMENT": "test",
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_THREADS": "2",
    }
    command = [str(GUNICORN), "-c", "config/gunicorn.py", app]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=BASE_DIR, env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    try:
        wait_for(
            lambda: _answers(server) and len(server.worker_pids()) == workers,
            what=f"gunicorn with {workers} workers",
            log=server.log,
        )
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(server: Server) -> bool:
    if server.process.poll() is not None:
        raise RuntimeError(f"server exited early:\n{server.log()}")
    try:
        return request("GET", server.url + "/api/v1/public/health")[0] == 200
    except OSError:
        return False


@contextmanager
def celery_worker(env: dict[str, str], log_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`celery -A config worker` (solo pool) on the default queue."""
    command = [
        str(CELERY),
        "-A",
        "config",
        "worker",
        "--pool=solo",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env={**os.environ, "ENVIRONMENT": "test", **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_for(
    condition: Callable[[], Any], *, what: str, log: Callable[[], str], timeout: float = 45
) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}:\n{log()[-5000:]}")


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among a process's output lines (banners and tracebacks skipped)."""
    records = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A local HTTP server that records every POST and answers 200 (Sentry, OTLP collector)."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.received.append(Received(self.path, headers, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, token: str | None = None) -> tuple[str, Samples]:
    """GET /metrics: the text and every sample by (name, labels)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, _, body = request("GET", url + "/api/v1/public/metrics", headers=headers)
    assert status == 200, body[:500]
    text = body.decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples named `name` whose labels include `labels` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)
