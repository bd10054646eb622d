"""`make bench`: load benchmark of the hot path under the production server configuration.

Seeds 64 users with 200 projects each in a fresh PostgreSQL database, starts gunicorn with
config/gunicorn.py (ENVIRONMENT=production, Redis cache and rate limiter on), then drives each
endpoint with wrk (or a small asyncio client when wrk is missing) in interleaved rounds so that
machine drift cancels out. Prints requests/second, p50/p99 latency, the ratio of each endpoint to
the two ceilings of bench/ceilings.py, SQL statements per request and the workers' peak memory,
and appends the figures to bench/README.md.

One long script on purpose: seeding, the servers, the load and the report are read top to
bottom as one procedure, and nothing outside `make bench` imports it.

When the AI API is installed it also starts bench/fake_openai.py (an OpenAI-compatible server in
its own process) as the server's `openai` provider, adds `POST /api/v1/app/ai/completions` to the
table, measures the gateway's own latency per call (the same client calling through the API and
calling the fake directly, interleaved) and holds many concurrent streams open against the default
server, against stream pools (the same gunicorn configuration with many threads) and, when
uvicorn is installed, against the ASGI application (bench/streams.py).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
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
from typing import IO, TYPE_CHECKING

from bench import profile, streams

if TYPE_CHECKING:
    from django.test import Client

BASE_DIR = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgres://postgres@127.0.0.1:5432")
DATABASE = os.environ.get("BENCH_DATABASE", "groundwork_bench")
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
    "METRICS_TOKEN": "bench-metrics-token-0123456789",
    # The limiter runs as in production; the budget is only large enough never to trip.
    "RATE_LIMIT_DEFAULT": "100000000/minute",
    "BENCH_CEILINGS": "true",
    "LOG_LEVEL": "info",
    "LOG_FORMAT": "json",
    # The AI gateway calls bench/fake_openai.py (OPENAI_BASE_URL is set once it listens); the AI
    # rate limit and the free plan's monthly token budget are only large enough never to trip.
    "AI_DEFAULT_PROVIDER": "openai",
    "OPENAI_API_KEY": "sk-bench-not-a-real-key",
    "RATE_LIMIT_AI": "100000000/minute",
    "BILLING_FREE_AI_TOKENS_PER_MONTH": str(10**15),
}
AI_PATH = "/api/v1/app/ai/completions"
ASGI_APP = "config.asgi:application"
PROMPT = [{"role": "user", "content": "Say twenty words, please."}]


@dataclass
class Endpoint:
    name: str
    path: str
    rotate: str | None = None  # "token" or "owner": varied per request over the 64 users
    body: str | None = None  # JSON: the request is then a POST
    server: str = "project"  # or "bare": the minimal Django of bench/bare.py

    @property
    def method(self) -> str:
        return "GET" if self.body is None else "POST"


ENDPOINTS = [
    Endpoint("projects list", "/api/v1/app/projects?limit=20", rotate="token"),
    Endpoint("users/me", "/api/v1/app/users/me", rotate="token"),
    Endpoint("health", "/api/v1/public/health"),
    Endpoint("ceiling: constant", "/bench/ceiling/constant"),
    Endpoint("ceiling: 1 query", "/bench/ceiling/query", rotate="owner"),
    Endpoint("bare: constant", "/constant", server="bare"),
    Endpoint("bare: 1 query", "/query", rotate="owner", server="bare"),
]
# Through the gateway, and the same request straight to the fake provider (same client, same
# rotated Authorization header, which the fake ignores).
AI_ENDPOINT = Endpoint(
    "ai completions", AI_PATH, rotate="token", body=json.dumps({"messages": PROMPT})
)
PROVIDER_ENDPOINT = Endpoint(
    "provider direct",
    "/v1/chat/completions",
    rotate="token",
    body=json.dumps({"model": "gpt-4o-mini", "messages": PROMPT}),
)


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
    parser.add_argument(
        "--overhead-connections",
        type=int,
        default=1,
        help="connections for the gateway overhead (API vs provider direct)",
    )
    parser.add_argument("--streams", type=int, default=100, help="concurrent streams (0: none)")
    parser.add_argument("--chunks", type=int, default=20, help="chunks per fake completion")
    parser.add_argument("--interval-ms", type=float, default=100.0, help="between fake chunks")
    parser.add_argument(
        "--stream-pools",
        default="1x128,2x64",
        help="stream pool configurations to measure, workers x threads, comma-separated",
    )
    parser.add_argument(
        "--stream-deadline", type=float, default=90.0, help="seconds a stream may take"
    )
    parser.add_argument("--no-asgi", action="store_true", help="skip uvicorn even if installed")
    parser.add_argument("--no-record", action="store_true", help="do not append to README.md")
    parser.add_argument(
        "--profile-count", type=int, default=2000, help="requests per itemised profile"
    )
    args = parser.parse_args()
    pools = [parse_pool(value) for value in args.stream_pools.split(",") if value.strip()]

    workdir = Path(tempfile.mkdtemp(prefix="groundwork-bench-"))
    fake, fake_port = start_fake(args.chunks, args.interval_ms, workdir)
    os.environ.update(SERVER_ENV)
    os.environ["OPENAI_BASE_URL"] = f"http://127.0.0.1:{fake_port}/v1"
    # Metrics in multiprocess mode, as deployed (docker/compose.yaml): the in-process profile
    # and each server get a directory of their own.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_directory(workdir, "profile"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    try:
        recreate_database()
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        ai = ai_installed()
        if not ai:
            print(f"{AI_PATH} is not routed: the AI figures are skipped")
        endpoints = [*ENDPOINTS[:2], AI_ENDPOINT, *ENDPOINTS[2:]] if ai else ENDPOINTS
        owners, tokens = seed()
        queries = sql_per_request(endpoints, owners, tokens)
        profiles = profile.itemise(profile_requests(owners, tokens, ai), count=args.profile_count)
        from django.db import connections

        connections.close_all()

        use_wrk = shutil.which("wrk") is not None
        print(f"load generator: {'wrk' if use_wrk else 'asyncio client (wrk not found)'}")
        port, bare_port = free_port(), free_port()
        bare, bare_log = start_bare(bare_port, args.workers, args.threads, workdir)
        overhead: dict[str, list[Result]] | None = None
        try:
            server, log = start_server(port, args.workers, args.threads, workdir)
            try:
                ports = {"project": port, "bare": bare_port}
                results = drive(endpoints, ports, owners, tokens, args, workdir, use_wrk)
                memory = worker_memory(server.pid)
                if ai:
                    overhead = gateway_overhead(
                        port, fake_port, owners, tokens, args, workdir, use_wrk
                    )
            finally:
                stop(server, log)
        finally:
            stop(bare, bare_log)
        stream_results = []
        if ai and args.streams:
            stream_results = measure_streams(pools, tokens, args, workdir)
    finally:
        fake.send_signal(signal.SIGTERM)
        fake.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    report = render(endpoints, results, queries, memory, args)
    report += "\nOne steady-state request, itemised (bench/profile.py):\n\n"
    report += profile.render(profiles)
    if overhead is not None:
        report += "\n" + render_overhead(overhead, args)
    if stream_results:
        report += "\n" + "\n".join(streams.render(stream_results, args.chunks, args.interval_ms))
        report += "\n"
    print(report)
    if not args.no_record:
        with open(BASE_DIR / "bench" / "README.md", "a") as readme:
            readme.write("\n" + report)


def parse_pool(value: str) -> tuple[int, int]:
    """ "2x64" -> (2, 64)."""
    workers, _, threads = value.strip().partition("x")
    return int(workers), int(threads)


# --- set-up -----------------------------------------------------------------------------------


def recreate_database(database: str = DATABASE) -> None:
    """Drop and create `database` on the benchmark's PostgreSQL server."""
    subprocess.run(
        [
            "psql",
            f"{POSTGRES}/postgres",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            f"DROP DATABASE IF EXISTS {database} WITH (FORCE)",
            "-c",
            f"CREATE DATABASE {database}",
        ],
        check=True,
    )


def seed() -> tuple[list[str], list[str]]:
    """64 users with 200 projects each, vacuumed and analysed; returns their ids and a token for
    each."""
    from django.db import connection

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
    # The planner's statistics and the visibility map, as autovacuum keeps them on a table in
    # service (it may not have run yet on rows inserted a moment ago).
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    ids = [user.pk for user in users]
    tokens = [
        mint_development_token(email=f"bench{index}@example.com", subject=user_id, ttl=86400)
        for index, user_id in enumerate(ids)
    ]
    return ids, tokens


def ai_installed() -> bool:
    """Whether the AI API is routed (otherwise the catch-all JSON 404 answers its path)."""
    from django.urls import Resolver404, resolve

    from config import errors

    try:
        return resolve(AI_PATH).func is not errors.page_not_found
    except Resolver404:
        return False


def start_fake(chunks: int, interval_ms: float, workdir: Path) -> tuple[subprocess.Popen[str], int]:
    """bench/fake_openai.py in its own process; returns it and its port."""
    fake = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.fake_openai",
            "--port",
            "0",
            "--chunks",
            str(chunks),
            "--interval-ms",
            str(interval_ms),
        ],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=open(workdir / "fake_openai.log", "w"),  # noqa: SIM115 - the child keeps it
        text=True,
    )
    assert fake.stdout is not None
    ready = fake.stdout.readline().split()
    if ready[:1] != ["ready"]:
        fake.kill()
        raise SystemExit((workdir / "fake_openai.log").read_text())
    return fake, int(ready[1])


def sql_per_request(
    endpoints: list[Endpoint], owners: list[str], tokens: list[str]
) -> dict[str, tuple[int, int]]:
    """(statements, writes) of one steady-state request to each endpoint."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    counts = {}
    for endpoint in endpoints:
        if endpoint.server != "project":
            continue
        headers = {"Authorization": f"Bearer {tokens[0]}"} if endpoint.rotate == "token" else {}
        path = endpoint.path + (f"?owner={owners[0]}" if endpoint.rotate == "owner" else "")

        for _ in range(2):  # the login is recorded, then the user is cached
            call(client, endpoint, path, headers)
        with CaptureQueriesContext(connection) as captured:
            status = call(client, endpoint, path, headers)
        assert status == 200, (endpoint.path, status)
        writes = sum(not query["sql"].lstrip().upper().startswith("SELECT") for query in captured)
        counts[endpoint.name] = (len(captured), writes)
    return counts


def profile_requests(owners: list[str], tokens: list[str], ai: bool) -> list[profile.Request]:
    """The requests `bench/profile.py` itemises: the list, users/me and, when routed, a
    completion."""
    auth = {"Authorization": f"Bearer {tokens[0]}"}
    requests = [
        profile.Request("projects list", ENDPOINTS[0].path, auth),
        profile.Request("users/me", ENDPOINTS[1].path, auth),
    ]
    if ai:
        body = (AI_ENDPOINT.body or "").encode()
        requests.append(profile.Request("ai completions", AI_PATH, auth, body))
    return requests


def call(client: Client, endpoint: Endpoint, path: str, headers: dict[str, str]) -> int:
    """One request through Django's test client; returns the status code."""
    if endpoint.body is None:
        return int(client.get(path, headers=headers).status_code)
    response = client.post(path, endpoint.body, content_type="application/json", headers=headers)
    return int(response.status_code)


def metrics_directory(workdir: Path, name: str) -> Path:
    """A new, empty PROMETHEUS_MULTIPROC_DIR under `workdir`."""
    directory = workdir / "prometheus" / name
    directory.mkdir(parents=True)
    return directory


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    port: int, workers: int, threads: int, workdir: Path, app: str = "config.wsgi:application"
) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """gunicorn with config/gunicorn.py serving `app` (uvicorn when `app` is config.asgi's)."""
    env = {
        **os.environ,
        **SERVER_ENV,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_directory(workdir, f"server-{port}")),
        "WEB_CONCURRENCY": str(workers),
        "GUNICORN_THREADS": str(threads),
        "GUNICORN_BIND": f"127.0.0.1:{port}",
    }
    if app == ASGI_APP:
        command = [
            str(Path(sys.executable).with_name("uvicorn")),
            app,
            "--host=127.0.0.1",
            f"--port={port}",
            f"--workers={workers}",
            "--no-access-log",
            "--log-level=warning",
        ]
    else:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        command = [str(gunicorn), "-c", "config/gunicorn.py", app]
    return launch(command, env, port, "/api/v1/public/health", workdir / "server.log")


def start_bare(
    port: int, workers: int, threads: int, workdir: Path
) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """bench/bare.py under gunicorn: the same workers and threads, nothing else configured."""
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        f"--workers={workers}",
        "--worker-class=gthread",
        f"--threads={threads}",
        f"--bind=127.0.0.1:{port}",
        "--reuse-port",
        "--preload",
        "--log-level=warning",
        "bench.bare:application",
    ]
    env = {**os.environ, "BARE_DATABASE_URL": f"{POSTGRES}/{DATABASE}"}
    return launch(command, env, port, "/constant", workdir / "bare.log")


def launch(
    command: list[str], env: dict[str, str], port: int, ready_path: str, log_path: Path
) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """Start a server; return once `ready_path` answers."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed by the caller
    server = subprocess.Popen(command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}{ready_path}", timeout=2)
            return server, log
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)
    server.kill()
    raise SystemExit(log_path.read_text())


def stop(server: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    log.close()


# --- load -------------------------------------------------------------------------------------


def drive(
    endpoints: list[Endpoint],
    ports: dict[str, int],
    owners: list[str],
    tokens: list[str],
    args: argparse.Namespace,
    workdir: Path,
    use_wrk: bool,
) -> dict[str, list[Result]]:
    results: dict[str, list[Result]] = {endpoint.name: [] for endpoint in endpoints}
    for endpoint in endpoints:  # warm-up: imports, pools, caches
        port = ports[endpoint.server]
        measure(endpoint, port, owners, tokens, 1, args.connections, workdir, use_wrk)
    for round_number in range(args.rounds):
        # Rotate the order each round so no endpoint always runs first or last.
        shift = round_number % len(endpoints)
        for endpoint in endpoints[shift:] + endpoints[:shift]:
            port = ports[endpoint.server]
            result = measure(
                endpoint, port, owners, tokens, args.duration, args.connections, workdir, use_wrk
            )
            results[endpoint.name].append(result)
            print(
                f"round {round_number + 1} {endpoint.name:<18} {result.rps:9.0f} req/s "
                f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms"
            )
    return results


def gateway_overhead(
    port: int,
    fake_port: int,
    owners: list[str],
    tokens: list[str],
    args: argparse.Namespace,
    workdir: Path,
    use_wrk: bool,
) -> dict[str, list[Result]]:
    """A completion through the API, the same call straight to the provider and, for scale,
    users/me (the same authentication and middleware with no AI), interleaved."""
    calls = [(AI_ENDPOINT, port), (PROVIDER_ENDPOINT, fake_port), (ENDPOINTS[1], port)]
    results: dict[str, list[Result]] = {endpoint.name: [] for endpoint, _ in calls}
    for round_number in range(args.rounds + 1):  # the first round warms up
        shift = round_number % len(calls)
        for endpoint, target in calls[shift:] + calls[:shift]:
            duration = args.duration if round_number else 1
            result = measure(
                endpoint,
                target,
                owners,
                tokens,
                duration,
                args.overhead_connections,
                workdir,
                use_wrk,
            )
            if round_number:
                results[endpoint.name].append(result)
                print(
                    f"overhead round {round_number} {endpoint.name:<16} {result.rps:7.0f} req/s "
                    f"p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:6.2f} ms"
                )
    return results


def measure_streams(
    pools: list[tuple[int, int]], tokens: list[str], args: argparse.Namespace, workdir: Path
) -> list[streams.StreamResult]:
    """`args.streams` concurrent streams against each server configuration, one at a time."""
    body: dict[str, object] = {"messages": PROMPT, "stream": True}
    wsgi = "config.wsgi:application"
    configs = [
        (f"default: gunicorn {args.workers}x{args.threads}", args.workers, args.threads, wsgi)
    ]
    configs += [(f"stream pool: gunicorn {w}x{t}", w, t, wsgi) for w, t in pools]
    if not args.no_asgi and importlib.util.find_spec("uvicorn") is not None:
        configs.append((f"ASGI: uvicorn, {args.workers} workers", args.workers, 1, ASGI_APP))
    results = []
    for label, workers, threads, app in configs:
        port = free_port()
        server, log = start_server(port, workers, threads, workdir, app)
        try:
            # Warm-up: every worker imports what a stream needs and opens its pools.
            asyncio.run(streams.open_streams(port, AI_PATH, tokens, body, 8, args.stream_deadline))
            with streams.MemorySampler(server.pid) as memory:
                samples, wall = asyncio.run(
                    streams.open_streams(
                        port, AI_PATH, tokens, body, args.streams, args.stream_deadline
                    )
                )
            result = streams.summarize(label, samples, wall, memory)
        finally:
            stop(server, log)
        server_log = (workdir / "server.log").read_text(errors="replace")
        print(
            f"streams {label}: {result.ok}/{result.streams} ok, TTFB p50 "
            f"{result.ttfb_p50_ms:.0f} ms p99 {result.ttfb_p99_ms:.0f} ms, gap p99 "
            f"{result.gap_p99_ms:.0f} ms, all done in {result.wall_s:.1f} s, errors "
            f"{result.error_kinds or 0}"
        )
        if result.errors:
            names = re.findall(r"\b(\w+(?:Error|Timeout|Exception))\b", server_log)
            counted = {name: names.count(name) for name in sorted(set(names))}
            print(f"  exceptions in the server log: {counted}")
        if app == ASGI_APP:
            buffered = "must consume synchronous iterators" in server_log
            print(f"  Django warned that it buffers the synchronous iterator: {buffered}")
        results.append(result)
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
    """A wrk script that rotates the token or owner per request and sends the body, if any."""
    if endpoint.rotate is None and endpoint.body is None:
        return ""
    body, path, headers = "nil", "nil", "{}"
    prelude = ""
    if endpoint.body is not None:
        prelude = f"local body = [==[{endpoint.body}]==]\n"
        body, headers = "body", '{["Content-Type"] = "application/json"}'
    if endpoint.rotate == "token":
        values = tokens
        headers = '{["Authorization"] = "Bearer " .. v' + (
            ', ["Content-Type"] = "application/json"}' if endpoint.body is not None else "}"
        )
    elif endpoint.rotate == "owner":
        values, path = owners, f'"{endpoint.path}?owner=" .. v'
    else:
        values = [""]
    listed = ",".join(f'"{value}"' for value in values)
    return (
        f"{prelude}local values = {{{listed}}}\nlocal i = 0\n"
        f"request = function()\n  i = i + 1\n  local v = values[(i % #values) + 1]\n"
        f'  return wrk.format("{endpoint.method}", {path}, {headers}, {body})\nend\n'
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
    threads = min(2, connections)  # wrk needs a connection per thread
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
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
            path, headers, body = endpoint.path, "", (endpoint.body or "").encode()
            if endpoint.rotate == "token":
                headers = f"Authorization: Bearer {tokens[count % len(tokens)]}\r\n"
            elif endpoint.rotate == "owner":
                path += f"?owner={owners[count % len(owners)]}"
            if endpoint.body is not None:
                headers += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            started = time.perf_counter()
            writer.write(
                f"{endpoint.method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode()
                + body
            )
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


@dataclass
class WorkerMemory:
    """The largest figures among the server's workers, MiB: the peak resident size (VmHWM,
    which counts the pages shared with the master in full), and after the load the
    proportional (PSS: shared pages divided among the processes sharing them) and unique (USS:
    pages no other process has) sizes."""

    peak_rss: float
    pss: float
    uss: float


def worker_memory(master_pid: int) -> WorkerMemory:
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    peaks, pss, uss = [], [], []
    for pid in children:
        status = Path(f"/proc/{pid}/status").read_text()
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()

        def kib(text: str, field: str) -> int:
            match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
            return int(match.group(1)) if match else 0

        peaks.append(kib(status, "VmHWM") / 1024)
        pss.append(kib(rollup, "Pss") / 1024)
        uss.append((kib(rollup, "Private_Clean") + kib(rollup, "Private_Dirty")) / 1024)
    return WorkerMemory(peak_rss=max(peaks), pss=max(pss), uss=max(uss))


# --- report -----------------------------------------------------------------------------------


def render(
    endpoints: list[Endpoint],
    results: dict[str, list[Result]],
    queries: dict[str, tuple[int, int]],
    memory: WorkerMemory,
    args: argparse.Namespace,
) -> str:
    def median(name: str, field: str) -> float:
        return statistics.median(getattr(result, field) for result in results[name])

    constant = median("ceiling: constant", "rps")
    one_query = median("ceiling: 1 query", "rps")
    bare_constant = median("bare: constant", "rps")
    bare_query = median("bare: 1 query", "rps")
    cpu = platform.processor() or platform.machine()
    lines = [
        f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"{os.cpu_count()} cores ({cpu}), gunicorn gthread {args.workers} workers x "
        f"{args.threads} threads, {args.connections} connections, {args.rounds} rounds of "
        f"{args.duration} s per endpoint (medians). Worker memory: peak RSS "
        f"{memory.peak_rss:.0f} MiB, after the load PSS {memory.pss:.0f} MiB and USS "
        f"{memory.uss:.0f} MiB. "
        f"Load average at the end: {os.getloadavg()[0]:.1f}.",
        "",
        "Ratios: `x bare` to bench/bare.py (Django alone: no middleware, a persistent "
        "connection), `x ceiling` to the project's own ceiling routes (the whole stack, no work).",
        "",
        "| endpoint | req/s | p50 ms | p99 ms | x bare constant | x bare 1-query "
        "| x ceiling constant | x ceiling 1-query | SQL/request | writes | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for endpoint in endpoints:
        rps = median(endpoint.name, "rps")
        statements, writes = queries.get(endpoint.name, ("-", "-"))
        errors = sum(result.errors for result in results[endpoint.name])
        lines.append(
            f"| {endpoint.name} | {rps:.0f} | {median(endpoint.name, 'p50_ms'):.2f} "
            f"| {median(endpoint.name, 'p99_ms'):.2f} | {rps / bare_constant:.2f} "
            f"| {rps / bare_query:.2f} | {rps / constant:.2f} | {rps / one_query:.2f} "
            f"| {statements} | {writes} | {errors} |"
        )
    return "\n".join(lines) + "\n"


def render_overhead(results: dict[str, list[Result]], args: argparse.Namespace) -> str:
    """The gateway's own latency: through the API minus straight to the provider."""

    def median(name: str, field: str) -> float:
        return statistics.median(getattr(result, field) for result in results[name])

    through, direct, plain = AI_ENDPOINT.name, PROVIDER_ENDPOINT.name, ENDPOINTS[1].name
    lines = [
        f"AI gateway overhead: `POST {AI_PATH}` (openai provider on the fake OpenAI-compatible "
        f"server) against the same request sent straight to the fake, same client (users/me "
        f"for scale), {args.overhead_connections} connection(s), interleaved, {args.rounds} "
        f"rounds of {args.duration} s (medians).",
        "",
        "| call | req/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, label in [
        (through, "through the API"),
        (direct, "provider direct"),
        (plain, "users/me (auth and middleware only)"),
    ]:
        errors = sum(result.errors for result in results[name])
        lines.append(
            f"| {label} | {median(name, 'rps'):.0f} | {median(name, 'p50_ms'):.2f} "
            f"| {median(name, 'p99_ms'):.2f} | {errors} |"
        )
    p50 = median(through, "p50_ms") - median(direct, "p50_ms")
    p99 = median(through, "p99_ms") - median(direct, "p99_ms")
    lines.append(f"| **gateway overhead** (through - direct) | | **{p50:.2f}** | **{p99:.2f}** | |")
    verdict = "within" if p50 < 5 else "over"
    lines += [
        "",
        f"Gateway overhead per call: p50 {p50:.2f} ms ({verdict} the 5 ms target), "
        f"p99 {p99:.2f} ms.",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
