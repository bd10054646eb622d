"""The fault suite's own services: a PostgreSQL cluster and a Redis server per test run, each on a
free local port in a temporary folder, that a test can stop and start again at will.

PostgreSQL refuses to run as root: when the tests run as root (CI does), `initdb` and `pg_ctl`
run as the `postgres` system user (`runuser`), which owns the cluster's folder.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tests.fakes import free_port
from tests.processes import BASE_DIR, wait_for

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
DATABASE = "groundwork"


def pg_binary(name: str) -> str | None:
    """The path of PostgreSQL's `name` (initdb, pg_ctl): on PATH, else Debian's newest."""
    for folder in PG_BIN_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    return shutil.which(name)


def missing_binaries() -> str | None:
    """Why the fault suite cannot run here (a binary missing), or None."""
    for name in ("initdb", "pg_ctl"):
        if pg_binary(name) is None:
            return f"PostgreSQL's {name} is not installed (apt-get install postgresql)"
    if shutil.which("redis-server") is None:
        return "redis-server is not installed (apt-get install redis-server)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root and runuser is missing"
    return None


def _as_owner(command: list[str]) -> list[str]:
    """`command` run as the postgres user when we are root (PostgreSQL refuses root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@dataclass
class PostgresCluster:
    """A cluster of our own: `start`, `stop` (fast: open connections are cut), `url`."""

    folder: Path
    port: int

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log_path(self) -> Path:
        return self.folder / "postgres.log"

    def url(self, database: str = DATABASE) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        """initdb: trust authentication on the loopback, no fsync (a throw-away cluster)."""
        self._run(
            [
                *(str(pg_binary("initdb")), "-D", str(self.data), "-A", "trust", "-U", "postgres"),
                *("-E", "UTF8", "--no-sync", "--locale=C.UTF-8"),
            ]
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=100"
        )
        self._run(
            [
                *(str(pg_binary("pg_ctl")), "-D", str(self.data), "-o", options),
                *("-l", str(self.log_path), "-w", "-t", "30", "start"),
            ]
        )

    def stop(self, mode: str = "fast") -> None:
        """Shut down: `fast` ends the sessions and rolls back in-flight transactions;
        `immediate` (the end of the suite) does not even write a checkpoint."""
        self._run([str(pg_binary("pg_ctl")), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def running(self) -> bool:
        status = subprocess.run(
            _as_owner([str(pg_binary("pg_ctl")), "-D", str(self.data), "status"]),
            capture_output=True,
            check=False,
        )
        return status.returncode == 0

    def _run(self, command: list[str]) -> None:
        subprocess.run(_as_owner(command), check=True, capture_output=True, timeout=60)

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement on the app's database (autocommit) and return its rows."""
        with psycopg.connect(self.url(), autocommit=True, connect_timeout=5) as connection:
            cursor = connection.execute(sql, params)
            return cursor.fetchall() if cursor.description else []


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A new cluster with an empty `groundwork` database, removed on exit."""
    folder = Path(tempfile.mkdtemp(prefix="groundwork-faults-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres")
    cluster = PostgresCluster(folder=folder, port=free_port())
    try:
        cluster.init()
        cluster.start()
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {DATABASE}")
        yield cluster
    finally:
        if cluster.running():
            cluster.stop("immediate")
        shutil.rmtree(folder, ignore_errors=True)


def create_schema(database_url: str) -> subprocess.Popen[bytes]:
    """Start making the app's tables in `database_url` from the models, as the test databases
    are (without running every migration: dj-stripe's alone take over a minute); `wait_schema`
    waits for it. It runs while the servers start, which need no table to become ready."""
    script = (
        "import django\n"
        "django.setup()\n"
        "from django.conf import settings\n"
        "from django.core.management import call_command\n"
        "class NoMigrations(dict):\n"
        "    def __contains__(self, item): return True\n"
        "    def __getitem__(self, item): return None\n"
        "settings.MIGRATION_MODULES = NoMigrations()\n"
        "call_command('migrate', run_syncdb=True, verbosity=0, interactive=False)\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=BASE_DIR,
        env={
            "PATH": os.environ["PATH"],
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "ENVIRONMENT": "test",
            "DATABASE_URL": database_url,
            "DATABASE_POOL": "false",
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_schema(process: subprocess.Popen[bytes]) -> None:
    """Wait for `create_schema`; fail with its output if it failed."""
    output, _ = process.communicate(timeout=180)
    if process.returncode != 0:
        raise AssertionError(f"creating the schema failed:\n{output.decode(errors='replace')}")


@dataclass
class RedisServer:
    """A Redis of our own, without persistence: `start`, `stop`, `url(db)`."""

    folder: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    @property
    def log_path(self) -> Path:
        return self.folder / "redis.log"

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                    *("--save", "", "--appendonly", "no", "--dir", str(self.folder)),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for(self.answers, what="Redis to answer", timeout=15)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self.process = None

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.RedisError:
            return False


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    folder = Path(tempfile.mkdtemp(prefix="groundwork-faults-redis-"))
    server = RedisServer(folder=folder, port=free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)
