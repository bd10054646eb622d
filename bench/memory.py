"""Import-time memory of a web worker, per phase, per app and per package: `make bench-memory`.

A fresh interpreter starts as a gunicorn worker of `make bench` does (the bench's production
settings, bench/run.py's SERVER_ENV), and this prints its memory after each phase: interpreter
start, the settings, `django.setup()`, the WSGI handler (middleware), the URLconf, then one
request to each hot endpoint (the first request of an endpoint is the one that imports).

Every module loaded is measured in anonymous resident memory (before and after it runs, less
what the modules it imports added), so the tables say which app pulled in what: "by app" charges
a module to the outermost module being imported when it loaded (an app's models, admin, urls or
ready()), "by package" to its own top-level package. Anonymous memory (RSS less the pages of
mapped files such as shared libraries) is what a forked worker inherits, counted in its RSS; the
figures are deltas in whole pages, and their sum per phase is the phase's growth less what ran
outside any import (the "not imports" column). `--detail NAME` lists the largest modules of one
app or package.

It needs the local PostgreSQL and Redis, as `make bench` does: the database
BENCH_MEMORY_DATABASE (default groundwork_bench_memory) is created and migrated when missing
(the first run takes a minute or two, dj-stripe's migrations) and then reused; Redis is
BENCH_REDIS_URL's. The AI endpoint calls bench/fake_openai.py.

gunicorn imports the app in its master (preload_app) and forks: a worker's RSS (what `make bench`
reports, as VmHWM) also counts the pages it still shares with the master. What it imports or
writes after the fork (the URLconf, the first request's imports, and every page of the shared
heap that reference counting or the garbage collector writes to) is its own (USS); PSS splits
the shared pages among the processes sharing them.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE = os.environ.get("BENCH_MEMORY_DATABASE", "groundwork_bench_memory")
PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024
USER_ID = "memory|0"
# Packages whose presence in a worker is a choice worth pinning (see tests/test_worker_imports.py).
WATCHED = (
    "appstoreserverlibrary",
    "googleapiclient",
    "google.auth",
    "boto3",
    "botocore",
    "stripe",
    "openai",
    "anthropic",
    "twisted",
    "daphne",
    "pydantic",
    "svix",
)


# --- the measured process ---------------------------------------------------------------------


def rss() -> int:
    """Resident bytes of this process (/proc/self/statm)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def anon() -> int:
    """Resident bytes not backed by a file (RSS less file pages: statm's resident - shared)."""
    with open("/proc/self/statm") as statm:
        fields = statm.read().split()
    return (int(fields[1]) - int(fields[2])) * PAGE


def rollup() -> tuple[int, int]:
    """(USS, PSS) in bytes from /proc/self/smaps_rollup, or (0, 0) where it cannot be read."""
    try:
        text = Path("/proc/self/smaps_rollup").read_text()
    except OSError:
        return 0, 0
    fields = {}
    for line in text.splitlines()[1:]:
        name, _, value = line.partition(":")
        fields[name] = int(value.split()[0]) * 1024
    return fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0), fields.get("Pss", 0)


@dataclass
class Load:
    module: str
    owner: str
    phase: str
    own: int = 0  # bytes this module's own execution added


@dataclass
class Recorder:
    """Times every module execution in RSS: a finder first on sys.meta_path that wraps loaders."""

    phase: str = "interpreter"
    loads: list[Load] = field(default_factory=list)
    stack: list[list[Any]] = field(default_factory=list)  # [module, owner, children's bytes]

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                loader = spec.loader
                if loader is not None and not isinstance(loader, type):
                    self.wrap(loader, name)
                return spec
        return None

    def wrap(self, loader: Any, name: str) -> None:
        execute = loader.exec_module

        def exec_module(module: Any) -> None:
            owner = self.stack[0][1] if self.stack else owner_of(name)
            self.stack.append([name, owner, 0])
            before = anon()
            try:
                execute(module)
            finally:
                grown = anon() - before
                _, _, children = self.stack.pop()
                self.loads.append(Load(name, owner, self.phase, grown - children))
                if self.stack:
                    self.stack[-1][2] += grown

        # A loader with __slots__ is left unmeasured.
        with contextlib.suppress(AttributeError):
            loader.exec_module = exec_module


def owner_of(module: str) -> str:
    """The app a module belongs to: django.contrib's apps by their own name, others by package."""
    parts = module.split(".")
    if parts[:2] == ["django", "contrib"] and len(parts) > 2:
        return ".".join(parts[:3])
    return parts[0]


def package_of(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "google" and len(parts) > 1 else parts[0]


@dataclass
class Phase:
    name: str
    rss: int
    anon: int
    uss: int
    pss: int
    modules: int


def measure() -> None:
    """The child: load the worker phase by phase and print the tables (JSON on stdout)."""
    recorder = Recorder()
    sys.meta_path.insert(0, recorder)
    phases = [Phase("interpreter start", rss(), anon(), *rollup(), len(sys.modules))]

    def mark() -> None:
        phases.append(Phase(recorder.phase, rss(), anon(), *rollup(), len(sys.modules)))

    recorder.phase = "settings"
    from django.conf import settings

    settings.INSTALLED_APPS  # noqa: B018 - reading a setting imports the settings package
    mark()

    recorder.phase = "django.setup()"
    import django

    django.setup(set_prefix=False)
    mark()

    recorder.phase = "WSGI handler (middleware)"
    from django.core.handlers.wsgi import WSGIHandler

    handler = WSGIHandler()
    mark()

    recorder.phase = "URLconf"
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - loads config.urls and every include()
    mark()
    setup_modules = set(sys.modules)

    token = os.environ["MEMORY_TOKEN"]
    requests = [
        ("GET", "/api/v1/public/health", None, False),
        ("GET", "/api/v1/app/users/me", None, True),
        ("GET", "/api/v1/app/projects?limit=20", None, True),
        ("POST", "/api/v1/app/ai/completions", os.environ["MEMORY_AI_BODY"], True),
        ("GET", "/bench/ceiling/constant", None, False),
        ("GET", f"/bench/ceiling/query?owner={USER_ID}", None, False),
    ]
    statuses = {}
    for method, path, body, authenticated in requests:
        label = f"{method} {path.split('?')[0]}"
        recorder.phase = label
        for _ in range(2):
            status = serve(handler, method, path, body, token if authenticated else None)
        statuses[label] = status
        mark()
    recorder.phase = "after gc.collect()"
    gc.collect()
    mark()
    with open("/proc/self/status") as status_file:
        peak = next(int(line.split()[1]) * 1024 for line in status_file if line.startswith("VmHWM"))

    json.dump(
        {
            "phases": [vars(phase) for phase in phases],
            "loads": [vars(load) for load in recorder.loads],
            "statuses": statuses,
            "peak": peak,
            "watched": {name: name in setup_modules for name in WATCHED if name in sys.modules},
            "watched_after_requests": [name for name in WATCHED if name in sys.modules],
        },
        sys.stdout,
    )


def serve(handler: Any, method: str, path: str, body: str | None, token: str | None) -> str:
    """One request through the WSGI handler, as gunicorn calls it; returns the status line."""
    import io

    path_info, _, query = path.partition("?")
    data = (body or "").encode()
    environ = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path_info,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json" if body else "",
        "CONTENT_LENGTH": str(len(data)),
        "wsgi.input": io.BytesIO(data),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if token:
        environ["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    started: list[str] = []
    response = handler(environ, lambda status, headers, exc_info=None: started.append(status))
    try:
        for _ in response:
            pass
    finally:
        response.close()
    return started[0]


# --- the parent: database, fake provider, report ------------------------------------------------


def prepare(env: dict[str, str], postgres: str) -> str:
    """Create and migrate the database when needed, seed one user; returns a token for it."""
    databases = subprocess.run(
        ["psql", f"{postgres}/postgres", "-tAc", "SELECT datname FROM pg_database"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if DATABASE not in databases:
        subprocess.run(
            ["psql", f"{postgres}/postgres", "-q", "-c", f"CREATE DATABASE {DATABASE}"], check=True
        )
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    try:
        call_command("migrate", check=True, verbosity=0)
    except SystemExit:
        print(f"Migrating {DATABASE} (once; a minute or two)...", file=sys.stderr)
        call_command("migrate", verbosity=0)

    from accounts.models import User
    from accounts.tokens import mint_development_token
    from projects.models import Project

    user, created = User.objects.get_or_create(
        id=USER_ID, defaults={"email": "memory@example.com", "full_name": "Memory"}
    )
    if created:
        Project.objects.bulk_create(Project(owner=user, name=f"Project {n}") for n in range(20))
    return mint_development_token(email=user.email, subject=user.pk, ttl=3600)


def report(result: dict[str, Any], detail: str | None = None) -> str:
    """The tables, in MiB; with `detail` (an app or a package), that one's largest modules."""
    lines = []
    phases = result["phases"]
    lines.append(
        f"{'phase':<34} {'RSS':>7} {'anon':>7} {'+anon':>6} {'USS':>7} {'PSS':>7} {'modules':>8}"
    )
    previous = phases[0]["anon"]
    for phase in phases:
        lines.append(
            f"{phase['name']:<34} {phase['rss'] / MIB:7.1f} {phase['anon'] / MIB:7.1f} "
            f"{(phase['anon'] - previous) / MIB:+6.1f} {phase['uss'] / MIB:7.1f} "
            f"{phase['pss'] / MIB:7.1f} {phase['modules']:8d}"
        )
        previous = phase["anon"]
    lines.append(
        f"peak RSS (VmHWM): {result['peak'] / MIB:.1f} MiB; statuses: {result['statuses']}"
    )

    loads = result["loads"]
    by_phase: dict[str, int] = defaultdict(int)
    for load in loads:
        by_phase[load["phase"]] += load["own"]
    lines.append("")
    lines.append(
        "Anonymous growth per phase: modules' own execution vs the rest (not imports), MiB"
    )
    for previous_phase, phase in itertools.pairwise(phases):
        imported = by_phase.get(phase["name"], 0)
        rest = phase["anon"] - previous_phase["anon"] - imported
        lines.append(
            f"  {phase['name']:<34} imports {imported / MIB:+6.1f}  not imports {rest / MIB:+6.1f}"
        )

    for title, keyfunc in (
        ("By app (the outermost module being imported)", lambda load: load["owner"]),
        ("By package", lambda load: package_of(load["module"])),
    ):
        totals: dict[str, int] = defaultdict(int)
        counts: dict[str, int] = defaultdict(int)
        split: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        first: dict[str, str] = {}
        for load in loads:
            key = keyfunc(load)
            totals[key] += load["own"]
            counts[key] += 1
            other = package_of(load["module"]) if title.startswith("By app") else load["owner"]
            split[key][other] += load["own"]
            first.setdefault(key, load["phase"])
        lines.append("")
        column = "of which (packages)" if title.startswith("By app") else "pulled in by (apps)"
        lines.append(f"{title}, MiB, largest first")
        lines.append(f"  {'':<28} {'MiB':>6} {'modules':>8}  {'first in':<28} {column}")
        for key in sorted(totals, key=lambda k: -totals[k])[:30]:
            top = sorted(split[key].items(), key=lambda item: -item[1])[:4]
            parts = ", ".join(f"{name} {size / MIB:.1f}" for name, size in top if size >= MIB / 2)
            lines.append(
                f"  {key:<28} {totals[key] / MIB:6.1f} {counts[key]:8d}  {first[key]:<28} {parts}"
            )
    if detail:
        chosen = [load for load in loads if detail in (load["owner"], package_of(load["module"]))]
        lines.append("")
        lines.append(f"{detail}: largest modules (own MiB, app, phase)")
        for load in sorted(chosen, key=lambda load: -load["own"])[:25]:
            lines.append(
                f"  {load['module']:<60} {load['own'] / MIB:5.1f}  {load['owner']:<16} "
                f"{load['phase']}"
            )
    watched = result["watched"]
    lines.append("")
    lines.append(
        "Watched packages at start (before requests): "
        + (", ".join(name for name, at_start in watched.items() if at_start) or "none")
    )
    lines.append(
        "Imported by the requests: "
        + (", ".join(name for name, at_start in watched.items() if not at_start) or "none")
    )
    return "\n".join(lines)


def main() -> None:
    import argparse

    from bench import run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detail", help="list the largest modules of this app or package")
    args = parser.parse_args()

    env = {
        **run.SERVER_ENV,
        "DATABASE_URL": f"{run.POSTGRES}/{DATABASE}",
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"),
        "LOG_LEVEL": "warning",
    }
    token = prepare(env, run.POSTGRES)
    workdir = Path(tempfile.mkdtemp(prefix="groundwork-memory-"))
    fake, port = run.start_fake(1, 0.0, workdir)
    try:
        started = time.monotonic()
        child = subprocess.run(
            [sys.executable, "-m", "bench.memory", "--child"],
            cwd=BASE_DIR,
            env={
                **os.environ,
                **env,
                "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
                "MEMORY_TOKEN": token,
                "MEMORY_AI_BODY": json.dumps({"messages": run.PROMPT}),
            },
            capture_output=True,
            text=True,
            check=False,
        )
        if child.returncode:
            raise SystemExit(child.stderr)
        result = json.loads(child.stdout)
    finally:
        fake.terminate()
        fake.wait(timeout=10)
    print(
        f"A web worker's memory, fresh interpreter, production settings ({DATABASE} on the local "
        f"PostgreSQL, Redis {run.REDIS}); {time.monotonic() - started:.1f} s. MiB.\n"
    )
    print(report(result, args.detail))


if __name__ == "__main__":
    if sys.argv[1:] == ["--child"]:
        measure()
    else:
        main()
