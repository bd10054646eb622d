"""`make bench`: load benchmark of the hot path under the production server configuration.

Seeds 64 users with 200 projects each in a fresh PostgreSQL database, starts gunicorn with
config/gunicorn.py (ENVIRONMENT=production, Redis cache and rate limiter on), then drives each
endpoint with wrk (or a small asyncio client when wrk is missing) in interleaved rounds so that
machine drift cancels out. Prints requests/second, p50/p99 latency, the ratio of each endpoint to
the two ceilings of bench/ceilings.py, SQL statements per request and the workers' peak memory,
and appends the figures to bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

BASE_DIR = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
DATABASE = "groundwork_bench"
REDIS = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
USERS, PROJECTS_PER_USER = 64, 200

SERVER_ENV = {
    "ENVIRONMENT": "production",
    "DEBUG": "false",
    "SECRET_KEY": "bench-" + "k" * 20 + "-not-a-real-secret-0123456789abcdefghij",
    "ALLOWED_HOSTS": "127.0.0.1,localhost,testserver",
    "DATABASE_URL": f"{POSTGRES}/{DATABASE}",
    "REDIS_URL": REDIS,
    "CACHE_KEY_PREFIX": "bench",
    "AUTH_JWT_SECRET": "bench-jwt-secret-that-is-long-enough-0123456789",
    # The limiter runs as in production; the budget is only large enough never to trip.
    "RATE_LIMIT_DEFAULT": "100000000/minute",
    "BENCH_CEILINGS": "true",
    "LOG_LEVEL": "info",
    "LOG_FORMAT": "json",
}


@dataclass
class Endpoint:
    name: str
    path: str
    rotate: str | None = None  # "token" or "owner": varied per request over the 64 users


ENDPOINTS = [
    Endpoint("projects list", "/api/v1/app/projects?limit=20", rotate="token"),
    Endpoint("users/me", "/api/v1/app/users/me", rotate="token"),
    Endpoint("health", "/api/v1/public/health"),
    Endpoint("ceiling: constant", "/bench/ceiling/constant"),
    Endpoint("ceiling: 1 query", "/bench/ceiling/query", rotate="owner"),
]


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per endpoint per round")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-record", action="store_true", help="do not append to README.md")
    args = parser.parse_args()

    os.environ.update(SERVER_ENV)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    recreate_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    owners, tokens = seed()
    queries = sql_per_request(owners, tokens)
    from django.db import connections

    connections.close_all()

    workdir = Path(tempfile.mkdtemp(prefix="groundwork-bench-"))
    port = free_port()
    server, log = start_server(port, args.workers, args.threads, workdir)
    try:
        results = drive(port, owners, tokens, args, workdir)
        memory = worker_peak_memory_mib(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
        shutil.rmtree(workdir, ignore_errors=True)
    report = render(results, queries, memory, args)
    print(report)
    if not args.no_record:
        with open(BASE_DIR / "bench" / "README.md", "a") as readme:
            readme.write("\n" + report)


# --- set-up -----------------------------------------------------------------------------------


def recreate_database() -> None:
    subprocess.run(
        [
            "psql",
            f"{POSTGRES}/postgres",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)",
            "-c",
            f"CREATE DATABASE {DATABASE}",
        ],
        check=True,
    )


def seed() -> tuple[list[str], list[str]]:
    """64 users with 200 projects each; returns their ids and a token for each."""
    from accounts.models import User
    from accounts.tokens import mint_development_token
    from projects.models import Project

    users = User.objects.bulk_create(
        User(id=f"bench|{index}", email=f"bench{index}@example.com", full_name=f"Bench {index}")
        for index in range(USERS)
    )
    start = datetime.now(UTC) - timedelta(days=30)
    Project.objects.bulk_create(
        (
            Project(
                owner=user,
                name=f"Project {number} of {user.pk}",
                description="A project used to measure the list endpoint.",
                created_at=start + timedelta(minutes=number),
            )
            for user in users
            for number in range(PROJECTS_PER_USER)
        ),
        batch_size=2000,
    )
    ids = [user.pk for user in users]
    tokens = [
        mint_development_token(email=f"bench{index}@example.com", subject=user_id, ttl=86400)
        for index, user_id in enumerate(ids)
    ]
    return ids, tokens


def sql_per_request(owners: list[str], tokens: list[str]) -> dict[str, tuple[int, int]]:
    """(statements, writes) of one steady-state request to each endpoint."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    counts = {}
    for endpoint in ENDPOINTS:
        headers = {"Authorization": f"Bearer {tokens[0]}"} if endpoint.rotate == "token" else {}
        path = endpoint.path + (f"?owner={owners[0]}" if endpoint.rotate == "owner" else "")
        for _ in range(2):  # the login is recorded, then the user is cached
            client.get(path, headers=headers)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(path, headers=headers)
        assert response.status_code == 200, (endpoint.path, response.content)
        writes = sum(not query["sql"].lstrip().upper().startswith("SELECT") for query in captured)
        counts[endpoint.name] = (len(captured), writes)
    return counts


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    port: int, workers: int, threads: int, workdir: Path
) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    env = {
        **os.environ,
        **SERVER_ENV,
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_THREADS": str(threads),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 - closed by the caller
    server = subprocess.Popen(
        [str(gunicorn), "-c", "config/gunicorn.py", "config.wsgi:application"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/public/health", timeout=2)
            return server, log
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    server.kill()
    raise SystemExit((workdir / "server.log").read_text())


# --- load -------------------------------------------------------------------------------------


def drive(
    port: int, owners: list[str], tokens: list[str], args: argparse.Namespace, workdir: Path
) -> dict[str, list[Result]]:
    results: dict[str, list[Result]] = {endpoint.name: [] for endpoint in ENDPOINTS}
    use_wrk = shutil.which("wrk") is not None
    print(f"load generator: {'wrk' if use_wrk else 'asyncio client (wrk not found)'}")
    for endpoint in ENDPOINTS:  # warm-up: imports, pools, caches
        measure(endpoint, port, owners, tokens, 1, args.connections, workdir, use_wrk)
    for round_number in range(args.rounds):
        # Rotate the order each round so no endpoint always runs first or last.
        shift = round_number % len(ENDPOINTS)
        for endpoint in ENDPOINTS[shift:] + ENDPOINTS[:shift]:
            result = measure(
                endpoint, port, owners, tokens, args.duration, args.connections, workdir, use_wrk
            )
            results[endpoint.name].append(result)
            print(
                f"round {round_number + 1} {endpoint.name:<18} {result.rps:9.0f} req/s "
                f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms"
            )
    return results


def measure(
    endpoint: Endpoint,
    port: int,
    owners: list[str],
    tokens: list[str],
    duration: int,
    connections: int,
    workdir: Path,
    use_wrk: bool,
) -> Result:
    if use_wrk:
        return run_wrk(endpoint, port, owners, tokens, duration, connections, workdir)
    return asyncio.run(run_asyncio(endpoint, port, owners, tokens, duration, connections))


def lua_script(endpoint: Endpoint, owners: list[str], tokens: list[str]) -> str:
    if endpoint.rotate == "token":
        values, build = tokens, 'wrk.format("GET", nil, {["Authorization"] = "Bearer " .. v})'
    elif endpoint.rotate == "owner":
        values, build = owners, f'wrk.format("GET", "{endpoint.path}?owner=" .. v)'
    else:
        return ""
    listed = ",".join(f'"{value}"' for value in values)
    return (
        f"local values = {{{listed}}}\nlocal i = 0\n"
        f"request = function()\n  i = i + 1\n  local v = values[(i % #values) + 1]\n"
        f"  return {build}\nend\n"
    )


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(
    endpoint: Endpoint,
    port: int,
    owners: list[str],
    tokens: list[str],
    duration: int,
    connections: int,
    workdir: Path,
) -> Result:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency"]
    script = lua_script(endpoint, owners, tokens)
    if script:
        path = workdir / "rotate.lua"
        path.write_text(script)
        command += ["-s", str(path)]
    output = subprocess.run(
        [*command, f"http://127.0.0.1:{port}{endpoint.path}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def percentile(label: str) -> float:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        assert match, output
        return float(match.group(1)) * UNITS_MS[match.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    assert rps, output
    return Result(
        rps=float(rps.group(1)),
        p50_ms=percentile("50"),
        p99_ms=percentile("99"),
        errors=int(errors.group(1)) if errors else 0,
    )


async def run_asyncio(
    endpoint: Endpoint,
    port: int,
    owners: list[str],
    tokens: list[str],
    duration: int,
    connections: int,
) -> Result:
    """Keep-alive HTTP/1.1 clients on raw sockets, for machines without wrk."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration

    async def client(offset: int) -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        count = offset
        while time.perf_counter() < deadline:
            count += 1
            path, headers = endpoint.path, ""
            if endpoint.rotate == "token":
                headers = f"Authorization: Bearer {tokens[count % len(tokens)]}\r\n"
            elif endpoint.rotate == "owner":
                path += f"?owner={owners[count % len(owners)]}"
            started = time.perf_counter()
            writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode())
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            errors += not status_line.split()[1].startswith(b"2")
        writer.close()

    await asyncio.gather(*(client(index) for index in range(connections)))
    latencies.sort()
    return Result(
        rps=len(latencies) / duration,
        p50_ms=latencies[len(latencies) // 2],
        p99_ms=latencies[int(len(latencies) * 0.99)],
        errors=errors,
    )


def worker_peak_memory_mib(master_pid: int) -> float:
    """The largest peak resident size (VmHWM) among the server's worker processes."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    peaks = []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        if match:
            peaks.append(int(match.group(1)) / 1024)
    return max(peaks)


# --- report -----------------------------------------------------------------------------------


def render(
    results: dict[str, list[Result]],
    queries: dict[str, tuple[int, int]],
    memory_mib: float,
    args: argparse.Namespace,
) -> str:
    def median(name: str, field: str) -> float:
        return statistics.median(getattr(result, field) for result in results[name])

    constant = median("ceiling: constant", "rps")
    one_query = median("ceiling: 1 query", "rps")
    cpu = platform.processor() or platform.machine()
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{os.cpu_count()} cores ({cpu}), gunicorn gthread {args.workers} workers x "
        f"{args.threads} threads, {args.connections} connections, {args.rounds} rounds of "
        f"{args.duration} s per endpoint (medians). Worker peak memory: {memory_mib:.0f} MiB.",
        "",
        "| endpoint | req/s | p50 ms | p99 ms | x constant | x 1-query | SQL/request | writes "
        "| errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for endpoint in ENDPOINTS:
        rps = median(endpoint.name, "rps")
        statements, writes = queries[endpoint.name]
        errors = sum(result.errors for result in results[endpoint.name])
        lines.append(
            f"| {endpoint.name} | {rps:.0f} | {median(endpoint.name, 'p50_ms'):.2f} "
            f"| {median(endpoint.name, 'p99_ms'):.2f} | {rps / constant:.2f} "
            f"| {rps / one_query:.2f} | {statements} | {writes} | {errors} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
