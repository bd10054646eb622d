"""`make bench-coldstart`: how long a newcomer waits, from a fresh clone to the first response.

Clones the repository's HEAD into a temporary folder (`--worktree`: copies the working tree's
tracked and untracked, not ignored, files instead, to measure changes not committed yet), then
times, each as its own processes with the environment of a new shell (no DATABASE_URL, no .env):

- `make install`: a new .venv with requirements/dev.txt (`--venv PATH` reuses an installed
  virtualenv instead; it says where pip found the packages and whether its cache was warm);
- `manage.py migrate` on an empty SQLite database and on an empty PostgreSQL database of its own
  (`--postgres-database`), with each migration's time from `migrate -v 2`, summed per app, and
  what the process spends before the first migration and after the last one;
- `make run` on a new SQLite database up to the first 200 from /api/v1/public/health, then on the
  migrated database (the everyday restart), split at what it prints: the migrations decision,
  the banner, the server's system checks and its start;
- the run's steps as separate commands: `migrate --check`, `welcome`, and the bare Python start
  with `django.setup()` that every one of them pays.

Wall times on a shared machine follow its load; CPU seconds (user + system of every process of
the step, children included) follow the work. Both are printed, with the load average.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from bench import run

BASE_DIR = Path(__file__).resolve().parent.parent
POSTGRES = run.POSTGRES
HEALTH = "/api/v1/public/health"
# What a new shell would not have: the clone must start from the project's defaults.
DROPPED_ENV = ("DATABASE_URL", "REDIS_URL", "ENVIRONMENT", "DJANGO_SETTINGS_MODULE", "VIRTUAL_ENV")
APPLIED = re.compile(r"^\s*Applying (\w+)\.(\w+)\.\.\. OK \(([\d.]+)s\)")
RENDERED = re.compile(r"Rendering model states\.\.\. DONE \(([\d.]+)s\)")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Step:
    """One timed step: wall seconds and CPU seconds of all its processes."""

    name: str
    wall: float
    cpu: float
    note: str = ""


@dataclass
class Migration:
    """`manage.py migrate` on an empty database, itemised."""

    database: str
    wall: float
    cpu: float
    before: float  # process start, settings, apps, checks, the migration graph
    after: float  # post-migrate handlers (content types, permissions), exit
    render: float
    per_migration: list[tuple[str, float]] = field(default_factory=list)

    def per_app(self) -> list[tuple[str, float, int]]:
        """(app, seconds, migrations), slowest first."""
        seconds: dict[str, float] = defaultdict(float)
        count: dict[str, int] = defaultdict(int)
        for name, elapsed in self.per_migration:
            app = name.split(".")[0]
            seconds[app] += elapsed
            count[app] += 1
        return sorted(((a, s, count[a]) for a, s in seconds.items()), key=lambda r: -r[1])


def clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment as a new shell has it, unbuffered, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
    env["PYTHONUNBUFFERED"] = "1"  # lines arrive when printed: the run is split at them
    env.update(extra)
    return env


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def session_cpu(session: int) -> float:
    """CPU seconds of the live processes of `session` and of the children they have reaped."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process has gone meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        # After the command's name: state ppid pgrp session ... utime(11) stime cutime cstime.
        if int(fields[3]) == session:
            total += sum(int(value) for value in fields[11:15])
    return total / CLOCK_TICKS


def run_timed(name: str, command: list[str], cwd: Path, env: dict[str, str]) -> Step:
    """Run `command` to completion (its output kept, shown on failure)."""
    cpu, started = children_cpu(), time.monotonic()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}{result.stderr}"
        )
    return Step(name, wall, children_cpu() - cpu)


def checkout(target: Path, *, worktree: bool) -> str:
    """HEAD's clone, or the working tree's files, in `target`; says which."""
    if not worktree:
        subprocess.run(["git", "clone", "-q", str(BASE_DIR), str(target)], check=True)
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=target, capture_output=True, text=True
        ).stdout.strip()
        return f"clone of HEAD {head}"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=BASE_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    copied = 0
    for name in filter(None, listed.split("\0")):
        source = BASE_DIR / name
        if source.is_file():  # listed but deleted in the working tree: not copied
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
            copied += 1
    return f"working tree ({copied} files, uncommitted changes included)"


def pip_sources() -> str:
    """Where pip finds packages here, and whether its download cache holds anything."""
    cache = Path(
        subprocess.run(
            [sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True
        ).stdout.strip()
        or Path.home() / ".cache" / "pip"
    )
    size = sum(f.stat().st_size for f in cache.rglob("*") if f.is_file()) if cache.is_dir() else 0
    state = f"warm ({size / 2**20:.0f} MiB in {cache})" if size else f"cold (nothing in {cache})"
    links = os.environ.get("PIP_FIND_LINKS") or os.environ.get("PIP_INDEX_URL") or "PyPI"
    return f"pip cache {state}; packages from {links}"


def install(clone: Path, venv: Path | None, env: dict[str, str]) -> Step:
    """`make install` in the clone, or a link to an installed virtualenv (`--venv`)."""
    if venv is not None:
        (clone / ".venv").symlink_to(venv.resolve())
        return Step("make install", 0.0, 0.0, f"skipped: .venv links to {venv}")
    step = run_timed("make install", ["make", "install"], clone, env)
    step.note = pip_sources()
    return step


def migrate(clone: Path, database_url: str, label: str) -> Migration:
    """`manage.py migrate -v 2` on the empty database at `database_url`, line by line."""
    env = clean_env(DATABASE_URL=database_url)
    cpu, started = children_cpu(), time.monotonic()
    process = subprocess.Popen(
        [".venv/bin/python", "manage.py", "migrate", "--noinput", "-v", "2"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    first = last = None
    render = 0.0
    per_migration: list[tuple[str, float]] = []
    output: list[str] = []
    for line in process.stdout:
        output.append(line)
        now = time.monotonic() - started
        if line.startswith("Running migrations:"):
            first = now
        if applied := APPLIED.match(line):
            per_migration.append((f"{applied[1]}.{applied[2]}", float(applied[3])))
            last = now
        if rendered := RENDERED.search(line):
            render = float(rendered[1])
    if process.wait() != 0:
        sys.exit(f"migrate on {label} failed:\n{''.join(output)}")
    wall = time.monotonic() - started
    return Migration(
        database=label,
        wall=wall,
        cpu=children_cpu() - cpu,
        before=first if first is not None else wall,
        after=wall - (last if last is not None else wall),
        render=render,
        per_migration=per_migration,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(command: list[str], cwd: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """`command` in a session of its own, stopped (the whole session) on the way out."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def ok(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{HEALTH}", timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


# What the run prints, in order, and the step that ends there.
RUN_MARKS = (
    ("Applying database migrations", "start, pending migrations found"),
    ("Groundwork (", "(migrations,) banner"),
    ("Performing system checks", "server: the reloader's child starts"),
    ("Starting ASGI/Daphne", "server: system checks, migration check"),
)


def first_response(
    name: str, command: list[str], clone: Path, env: dict[str, str], port: int, timeout: float
) -> tuple[Step, list[Step]]:
    """Time `command` until the first 200 from the health endpoint, split at RUN_MARKS."""
    started = time.monotonic()
    seen: dict[str, float] = {}
    output: list[str] = []

    def read(stream: IO[str]) -> None:
        for line in stream:
            output.append(line)
            for mark, _ in RUN_MARKS:
                if mark in line and mark not in seen:
                    seen[mark] = time.monotonic() - started

    with serving(command, clone, env) as process:
        assert process.stdout is not None
        threading.Thread(target=read, args=(process.stdout,), daemon=True).start()
        while not ok(port):
            if process.poll() is not None:
                sys.exit(f"{name} exited ({process.returncode}) before serving:\n{''.join(output)}")
            if time.monotonic() - started > timeout:
                sys.exit(f"{name}: no 200 from {HEALTH} within {timeout:.0f} s")
            time.sleep(0.05)
        wall = time.monotonic() - started
        cpu = session_cpu(process.pid)
    splits, previous = [], 0.0
    for mark, step in RUN_MARKS:
        if mark in seen:
            splits.append(Step(f"  {step}", seen[mark] - previous, 0.0))
            previous = seen[mark]
    splits.append(Step("  first 200", wall - previous, 0.0))
    return Step(name, wall, cpu), splits


def recreate_database(name: str) -> str:
    """Drop and create the PostgreSQL database `name`; its URL."""
    run.recreate_database(name)
    return f"{POSTGRES}/{name}"


def render_migration(result: Migration, top: int) -> str:
    rows = [
        f"### migrate on an empty {result.database}: {result.wall:.1f} s wall, "
        f"{result.cpu:.1f} s CPU",
        "",
        "| part | seconds |",
        "|---|---:|",
        f"| start, settings, checks, migration graph | {result.before:.1f} |",
    ]
    if result.render:
        rows.append(f"| rendering the model states once | {result.render:.1f} |")
    rows += [
        f"| {app} ({count} migrations) | {seconds:.1f} |"
        for app, seconds, count in result.per_app()
    ]
    rows += [f"| post-migrate handlers, exit | {result.after:.1f} |", ""]
    slowest = sorted(result.per_migration, key=lambda r: -r[1])[:top]
    rows += ["Slowest: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in slowest), ""]
    return "\n".join(rows)


def render_steps(title: str, steps: list[Step]) -> str:
    rows = [f"### {title}", "", "| step | wall s | CPU s | |", "|---|---:|---:|---|"]
    for step in steps:
        cpu = f"{step.cpu:.1f}" if step.cpu else ""
        rows.append(f"| {step.name} | {step.wall:.1f} | {cpu} | {step.note} |")
    return "\n".join([*rows, ""])


def median_step(name: str, steps: list[Step], note: str = "") -> Step:
    return Step(
        name,
        statistics.median(s.wall for s in steps),
        statistics.median(s.cpu for s in steps),
        note or f"median of {len(steps)}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--worktree", action="store_true", help="copy the working tree instead of cloning HEAD"
    )
    parser.add_argument(
        "--venv", type=Path, help="reuse this installed virtualenv instead of `make install`"
    )
    parser.add_argument(
        "--postgres-database",
        default="groundwork_coldstart",
        help="the PostgreSQL database migrated (dropped and created; '' to skip PostgreSQL)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs of the quick steps (median)")
    parser.add_argument("--no-new-run", action="store_true", help="skip `make run` on a new db")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="groundwork-coldstart-"))
    clone = workdir / "groundwork"
    try:
        source = checkout(clone, worktree=args.worktree)
        print(f"{source} in {clone}", flush=True)
        steps = [install(clone, args.venv, clean_env())]
        print(f"install: {steps[0].wall:.1f} s ({steps[0].note})", flush=True)

        migrations = [migrate(clone, f"sqlite:///{workdir / 'migrated.sqlite3'}", "SQLite")]
        if args.postgres_database:
            url = recreate_database(args.postgres_database)
            migrations.append(migrate(clone, url, f"PostgreSQL ({args.postgres_database})"))
        for result in migrations:
            print(f"migrate ({result.database}): {result.wall:.1f} s", flush=True)

        port = free_port()
        make_run = ["make", "--no-print-directory", "run", f"ADDR=127.0.0.1:{port}"]
        if args.venv is not None:
            # The clone's requirements are newer than the linked virtualenv's stamp: never let
            # make reinstall into a virtualenv that is not the clone's.
            make_run[1:1] = ["-o", ".venv/.installed"]
        sections = []
        if not args.no_new_run:
            env = clean_env(DATABASE_URL=f"sqlite:///{workdir / 'new.sqlite3'}")
            new, splits = first_response(
                "make run, new database", make_run, clone, env, port, timeout=1200
            )
            steps += [new, *splits]
        env = clean_env(DATABASE_URL=f"sqlite:///{workdir / 'migrated.sqlite3'}")
        restarts = [
            first_response("make run, migrated", make_run, clone, env, port, timeout=300)
            for _ in range(args.rounds)
        ]
        restart = median_step("make run, migrated database", [r[0] for r in restarts])
        steps.append(restart)
        for split in restarts[0][1]:
            same = [s for _, splits in restarts for s in splits if s.name == split.name]
            steps.append(median_step(split.name, same))
        sections.append(render_steps("make run", steps))

        python = ".venv/bin/python"
        separate = {
            "python -c 'django.setup()'": [
                python,
                "-c",
                "import os, django; "
                "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); "
                "django.setup()",
            ],
            "manage.py migrate --check": [python, "manage.py", "migrate", "--check"],
            "manage.py welcome": [python, "manage.py", "welcome", f"127.0.0.1:{port}"],
        }
        alone = [
            median_step(name, [run_timed(name, command, clone, env) for _ in range(args.rounds)])
            for name, command in separate.items()
        ]
        server = [
            first_response(
                "runserver alone",
                [python, "manage.py", "runserver", f"127.0.0.1:{port}"],
                clone,
                env,
                port,
                timeout=300,
            )[0]
            for _ in range(args.rounds)
        ]
        alone.append(median_step("manage.py runserver to first 200", server))
        sections.append(render_steps("The run's steps alone (migrated SQLite database)", alone))
        sections += [render_migration(result, top=5) for result in migrations]

        print()
        print(f"{source}; {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
        print()
        print("\n".join(sections))
    finally:
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
