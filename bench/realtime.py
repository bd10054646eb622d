"""`make bench-realtime`: one realtime process (`manage.py realtime_serve`) under many sockets.

Seeds users in its PostgreSQL database (created and migrated on first use and kept, since
migrating a new database takes minutes; `--fresh` recreates it), starts the realtime process with
the production settings of `make bench` (Redis cache, slots and pub/sub channel layer), and drives
it from bench/ws_load.py, an asyncio client in its own process, phase by phase:

1. idle CPU of the process with no socket; resident memory after a warm-up (the baseline);
2. `--sockets` authenticated sockets held (two per user), opened `--batch` at a time: how many
   connected, the CPU of the process while all of them are idle for `--idle` seconds (a minute
   by default: each socket's heartbeat pings and one refresh of the per-user slots fall in it),
   and the resident memory per socket over the baseline; then all closed;
3. a connect storm: `--storm` sockets of as many users opened at once: all connected, none
   dropped, the time until the last one was;
4. app-level ping round trips with those sockets open, at `--ping-rate` a second;
5. fan-out: `--storm` sockets of one user (the per-user cap is raised for the bench), each on
   that user's channel; this process publishes `--events` events with `realtime.publish` (the
   pub/sub layer, through Redis); the time from the publish call until the last socket has it;
6. resident memory once every socket is closed, against the baseline.

Prints the figures; the README keeps the method and the figures of one run. CPU and memory are
read from /proc/<pid>/stat and /proc/<pid>/status of the server process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from bench.run import POSTGRES, SERVER_ENV, free_port, recreate_database

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE = os.environ.get("BENCH_REALTIME_DATABASE", "groundwork_bench_realtime")
REDIS = os.environ.get("BENCH_REALTIME_REDIS_URL", "redis://127.0.0.1:6379/13")
WS_PATH = "/api/v1/app/ws"
TICK = os.sysconf("SC_CLK_TCK")

ENV = {
    **SERVER_ENV,
    "DATABASE_URL": f"{POSTGRES}/{DATABASE}",
    "REDIS_URL": REDIS,
    "CACHE_KEY_PREFIX": "benchrt",
    # The fan-out phase holds --storm sockets of one user.
    "WS_MAX_CONNECTIONS_PER_USER": "100000",
    "WS_RATE_LIMIT": "1000/10s",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", type=int, default=5000, help="sockets held idle")
    parser.add_argument("--batch", type=int, default=250, help="handshakes in flight while held")
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle CPU measured")
    parser.add_argument("--storm", type=int, default=1000, help="sockets of the storm, fan-out")
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--ping-rate", type=float, default=500.0, help="pings a second")
    parser.add_argument("--events", type=int, default=20, help="events fanned out")
    parser.add_argument(
        "--fresh", action="store_true", help="recreate the database (migrating takes minutes)"
    )
    parser.add_argument("--ws", default="", help="uvicorn ws implementation (the command's own)")
    args = parser.parse_args()

    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by both children
    os.environ.update(ENV)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    users = args.sockets // 2 + args.storm
    workdir = Path(tempfile.mkdtemp(prefix="groundwork-bench-rt-"))
    started = time.monotonic()
    if args.fresh or not database_exists(DATABASE):
        recreate_database(DATABASE)
    subprocess.run(["redis-cli", "-u", REDIS, "FLUSHDB"], check=True, stdout=subprocess.DEVNULL)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    call_command("migrate", verbosity=0)  # minutes on a new database, nothing on a kept one
    tokens = seed(users)
    connections.close_all()
    print(
        f"seeded in {time.monotonic() - started:.0f} s: {users} users; RLIMIT_NOFILE {hard}; "
        f"{os.cpu_count()} cores shared by all processes"
    )

    port = free_port()
    server, log = start_server(port, args.ws, workdir)
    client = Client(f"ws://127.0.0.1:{port}{WS_PATH}")
    figures: dict[str, Any] = {}
    try:
        figures.update(run(server.pid, client, tokens, args))
    finally:
        client.stop()
        stop(server, log)
        if server.returncode not in (0, -signal.SIGTERM, None):
            print((workdir / "server.log").read_text()[-4000:])
        shutil.rmtree(workdir, ignore_errors=True)
    print(render(figures, args))


def database_exists(name: str) -> bool:
    found = subprocess.run(
        ["psql", f"{POSTGRES}/postgres", "-tA", "-v", f"name={name}"],
        input="SELECT 1 FROM pg_database WHERE datname = :'name'",
        check=True,
        capture_output=True,
        text=True,
    )
    return found.stdout.strip() == "1"


def seed(count: int) -> list[str]:
    """`count` users; a token for each."""
    from accounts.models import User
    from accounts.tokens import mint_development_token

    User.objects.filter(id__startswith="rt|").delete()
    User.objects.bulk_create(
        (User(id=f"rt|{n}", email=f"rt{n}@example.com", full_name=f"RT {n}") for n in range(count)),
        batch_size=2000,
    )
    return [
        mint_development_token(email=f"rt{n}@example.com", subject=f"rt|{n}", ttl=86400)
        for n in range(count)
    ]


def run(pid: int, client: Client, tokens: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """The phases of the module docstring; returns the figures."""
    from realtime import publish
    from realtime.publisher import drain

    out: dict[str, Any] = {}
    # Warm-up: imports, the thread pool, Redis and database connections, the user cache.
    client.call(cmd="open", tokens=tokens[:100], batch=100)
    client.call(cmd="ping", count=100, rate=1000)
    client.call(cmd="close")
    time.sleep(3)
    out["idle_cpu_empty"] = cpu_share(pid, 10)
    out["rss_baseline"] = rss_kib(pid)

    held_tokens = [tokens[n // 2] for n in range(args.sockets)]  # two sockets per user
    out["held"] = client.call(cmd="open", tokens=held_tokens, batch=args.batch)
    time.sleep(3)
    out["rss_held"] = rss_kib(pid)
    out["idle_cpu_held"] = cpu_share(pid, args.idle)
    out["held_status"] = client.call(cmd="status")
    out["held_close"] = client.call(cmd="close")
    time.sleep(3)
    out["rss_after_held"] = rss_kib(pid)

    storm_tokens = tokens[args.sockets // 2 : args.sockets // 2 + args.storm]
    cpu_before = cpu_seconds(pid), cpu_seconds(client.process.pid)
    out["storm"] = client.call(cmd="open", tokens=storm_tokens, batch=len(storm_tokens))
    out["storm_cpu"] = [
        cpu_seconds(pid) - cpu_before[0],
        cpu_seconds(client.process.pid) - cpu_before[1],
    ]
    time.sleep(1)
    out["ping"] = client.call(cmd="ping", count=args.pings, rate=args.ping_rate)
    out["storm_status"] = client.call(cmd="status")
    client.call(cmd="close")

    owner = storm_tokens[0]
    owner_id = f"rt|{args.sockets // 2}"
    out["fanout_open"] = client.call(cmd="open", tokens=[owner] * args.storm, batch=args.batch)
    time.sleep(1)
    publish(channel="user:nobody", event="bench.warm", data={})  # the publisher's connection
    drain(5)
    spans, lags, received = [], [], []
    cpu_before = cpu_seconds(pid), cpu_seconds(client.process.pid)
    for seq in range(args.events):
        client.call(cmd="expect", seq=seq)
        sent = time.monotonic()
        publish(channel=f"user:{owner_id}", event="bench.tick", data={"seq": seq})
        drain(5)
        result = client.read()
        received.append(result["received"])
        spans.append(result["last"] - sent)
        lags.append(result["first"] - sent)
        time.sleep(0.2)
    out["fanout"] = {"last": spans, "first": lags, "received": received}
    out["fanout_cpu"] = [
        (cpu_seconds(pid) - cpu_before[0]) / args.events,
        (cpu_seconds(client.process.pid) - cpu_before[1]) / args.events,
    ]
    client.call(cmd="close")
    time.sleep(5)
    out["rss_end"] = rss_kib(pid)
    return out


class Client:
    """bench/ws_load.py in its own process, one JSON line each way per command."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.ws_load", url],
            cwd=BASE_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.read()

    def call(self, **command: Any) -> Any:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        return self.read()

    def read(self) -> Any:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise SystemExit("the load client exited")
        return json.loads(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


SERVE_WITH = """
import django
django.setup()
from realtime.management.commands.realtime_serve import RealtimeServer, server_config
config = server_config(host="127.0.0.1", port={port})
config.ws = "{ws}"
RealtimeServer(config).run()
"""


def start_server(port: int, ws: str, workdir: Path) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    """`manage.py realtime_serve` on `port`, once it answers the health check."""
    command = [sys.executable, "manage.py", "realtime_serve", "--port", str(port)]
    if ws:  # the command's configuration with another ws implementation, to compare
        command = [sys.executable, "-c", SERVE_WITH.format(port=port, ws=ws)]
    log = open(workdir / "server.log", "wb")  # noqa: SIM115 - closed by stop()
    server = subprocess.Popen(command, cwd=BASE_DIR, env=os.environ, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/public/health", timeout=2)
            return server, log
        except (urllib.error.URLError, OSError):
            if server.poll() is not None:
                break
            time.sleep(0.2)
    server.kill()
    raise SystemExit((workdir / "server.log").read_text())


def stop(server: subprocess.Popen[bytes], log: IO[bytes]) -> None:
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()
    log.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def cpu_share(pid: int, seconds: float) -> float:
    """The share of one core the process used over the next `seconds`."""
    before, started = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_seconds(pid) - before) / (time.monotonic() - started)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, round(len(ordered) * share) - 1)]


def render(f: dict[str, Any], args: argparse.Namespace) -> str:
    """The figures as Markdown lines."""
    held, storm, ping, fan = f["held"], f["storm"], f["ping"], f["fanout"]
    per_socket = (f["rss_held"] - f["rss_baseline"]) / max(1, held["connected"])
    ms = [1000 * value for value in fan["last"]]
    first = [1000 * value for value in fan["first"]]
    lines = [
        f"- sockets held: {held['connected']} of {args.sockets} connected in "
        f"{held['seconds']:.1f} s ({args.batch} handshakes in flight), failures "
        f"{held['failures'] or 'none'}; {f['held_status']['closed_early']} closed while idle",
        f"- idle CPU: {100 * f['idle_cpu_held']:.1f} % of a core with {held['connected']} "
        f"sockets over {args.idle:.0f} s ({100 * f['idle_cpu_empty']:.1f} % with none)",
        f"- memory: baseline {f['rss_baseline'] / 1024:.1f} MiB, {f['rss_held'] / 1024:.1f} MiB "
        f"with {held['connected']} sockets: {per_socket:.1f} KiB per socket",
        f"- connect storm: {storm['connected']} of {args.storm} connected at once in "
        f"{storm['seconds']:.2f} s, failures {storm['failures'] or 'none'}, "
        f"{f['storm_status']['closed_early']} dropped; CPU meanwhile: server "
        f"{f['storm_cpu'][0]:.1f} s, client {f['storm_cpu'][1]:.1f} s",
        f"- ping round trip with {storm['connected']} sockets open, {ping['count']} pings at "
        f"{args.ping_rate:.0f}/s: p50 {ping['p50_ms']:.1f} ms, p99 {ping['p99_ms']:.1f} ms, "
        f"max {ping['max_ms']:.1f} ms, {ping['lost']} lost",
        f"- fan-out to {f['fanout_open']['connected']} sockets, {len(ms)} events: last socket "
        f"p50 {statistics.median(ms):.0f} ms, p99 {percentile(ms, 0.99):.0f} ms "
        f"(first socket p50 {statistics.median(first):.1f} ms); received "
        f"{min(fan['received'])}..{max(fan['received'])} per event; CPU per event: server "
        f"{1000 * f['fanout_cpu'][0]:.0f} ms, client {1000 * f['fanout_cpu'][1]:.0f} ms",
        f"- memory after closing: {f['rss_after_held'] / 1024:.1f} MiB after the held sockets, "
        f"{f['rss_end'] / 1024:.1f} MiB at the end "
        f"({(f['rss_end'] - f['rss_baseline']) / 1024:+.1f} MiB over the baseline)",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
