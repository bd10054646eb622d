"""Fixtures of the fault suite: one PostgreSQL cluster and one Redis of its own per test run,
production settings for the processes it starts, and an HTTP client for them.

The services are shared by the whole suite (starting them costs seconds); a test that stops one
starts it again before it ends (`stopped` does both), so the next test finds them running.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import signal
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.ai.fakes import FakeAI
from tests.fakes import Answer as AnswerOf
from tests.fakes import FakeServer, Request
from tests.faults.services import (
    PostgresCluster,
    RedisServer,
    create_schema,
    missing_binaries,
    postgres_cluster,
    redis_server,
    wait_schema,
)
from tests.jwt_keys import SigningKey
from tests.processes import Process, celery_worker, gunicorn

SECRET_KEY = "faults-" + "x7Kq2mZp9Lr4Tn8Wv3Yb6Hc1Jd5Fg0Ns" * 2
JWT_SECRET = "faults-jwt-secret-0123456789-abcdefghij"
ISSUER = "https://issuer.faults.test/"
AUDIENCE = "groundwork-faults"
METRICS_TOKEN = "faults-metrics-token-0123456789"
STRIPE_WEBHOOK_SECRET = "whsec_faults0123456789abcdef"
JWKS_PATH = "/.well-known/jwks.json"
AI_TIMEOUT = 2
JWKS_TIMEOUT = 2


@pytest.fixture(scope="session")
def _cluster() -> Iterator[tuple[PostgresCluster, subprocess.Popen[bytes]]]:
    reason = missing_binaries()
    if reason:
        pytest.skip(f"fault injection needs real services: {reason}")
    with postgres_cluster() as started:
        schema = create_schema(started.url())
        try:
            yield started, schema
        finally:
            if schema.poll() is None:
                schema.kill()
                schema.wait()


@pytest.fixture(autouse=True)
def cluster(_cluster: tuple[PostgresCluster, subprocess.Popen[bytes]]) -> PostgresCluster:
    """The suite's PostgreSQL, with the app's tables (made while the servers started: every
    test waits for them here, after its session fixtures started the servers)."""
    started, schema = _cluster
    wait_schema(schema)
    return started


@pytest.fixture(scope="session")
def redis(_cluster: tuple[PostgresCluster, subprocess.Popen[bytes]]) -> Iterator[RedisServer]:
    """The suite's Redis (cache, throttles, broker)."""
    with redis_server() as started:
        yield started


@pytest.fixture(scope="session")
def fake_ai() -> Iterator[FakeAI]:
    """The OpenAI API the server calls (tests make it hang)."""
    with FakeAI() as fake:
        yield fake


@dataclass
class FakeJWKS(FakeServer):
    """An identity provider's key set at /.well-known/jwks.json (`delay` makes it hang)."""

    key: SigningKey = field(default_factory=lambda: SigningKey.rsa("faults-1"))

    def answer(self, request: Request) -> AnswerOf:
        if request.path == JWKS_PATH:
            return 200, {"keys": [self.key.public_jwk()]}
        return 404, {"error": "not found"}


@pytest.fixture(scope="session")
def fake_jwks() -> Iterator[FakeJWKS]:
    with FakeJWKS() as fake:
        yield fake


@pytest.fixture(scope="session")
def production_env(
    _cluster: tuple[PostgresCluster, subprocess.Popen[bytes]],
    redis: RedisServer,
    fake_ai: FakeAI,
    fake_jwks: FakeJWKS,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    """What a production process of the suite is started with: every provider configured and
    pointed at a local fake, with short timeouts."""
    cluster = _cluster[0]
    return {
        "ENVIRONMENT": "production",
        "DEBUG": "false",
        "SECRET_KEY": SECRET_KEY,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": cluster.url(),
        "REDIS_URL": redis.url(0),
        "CELERY_BROKER_URL": redis.url(1),
        "CACHE_KEY_PREFIX": "faults",
        "AUTH_JWT_SECRET": JWT_SECRET,
        "AUTH_ISSUER": ISSUER,
        "AUTH_AUDIENCE": AUDIENCE,
        "METRICS_TOKEN": METRICS_TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path_factory.mktemp("prometheus")),
        "LOG_FORMAT": "console",
        "LOG_LEVEL": "info",
        # No traces or error reports leave the machine.
        "SENTRY_DSN": "",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
        "GUNICORN_GRACEFUL_TIMEOUT": "3",
        # Providers: each a local fake, each bounded by a short timeout.
        "AI_DEFAULT_PROVIDER": "openai",
        "OPENAI_API_KEY": "sk-faults-0123456789",
        "OPENAI_BASE_URL": f"{fake_ai.url}/v1",
        "AI_TIMEOUT_SECONDS": str(AI_TIMEOUT),
        "AI_BREAKER_FAILURES": "2",
        "AI_BREAKER_RESET_SECONDS": "120",
        "AUTH_JWKS_URL": fake_jwks.url + JWKS_PATH,
        "AUTH_JWKS_TIMEOUT_SECONDS": str(JWKS_TIMEOUT),
        "STRIPE_SECRET_KEY": "sk_test_faults0123456789abcdefghijklmn",
        "STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
    }


@pytest.fixture(scope="session")
def server(
    production_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Process]:
    """gunicorn with the production configuration (config/gunicorn.py): two workers of two
    threads, shared by the suite (it must survive every fault)."""
    log_path = tmp_path_factory.mktemp("gunicorn") / "gunicorn.log"
    with gunicorn(production_env, config_file=True, workers=2, log_path=log_path) as process:
        yield process
        # A quick shutdown: nothing is left to finish, and a graceful one waits for it.
        if process.poll() is None:
            process.popen.send_signal(signal.SIGINT)


@pytest.fixture(scope="session")
def worker(
    production_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Process]:
    """A Celery worker (production settings, one prefork child) with the suite's handlers."""
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    env = {
        **production_env,
        "WEBHOOK_RETRY_BACKOFF_SECONDS": "0",
        "CELERY_RETRY_BACKOFF_MAX_SECONDS": "1",
    }
    with celery_worker(
        env,
        name="faults",
        include="tests.faults.worker_handlers",
        pool="prefork",
        concurrency=1,
        log_path=log_path,
    ) as process:
        yield process
        # A cold shutdown: nothing of the suite is left to finish, and a warm one waits.
        if process.poll() is None:
            process.popen.send_signal(signal.SIGQUIT)


def mint_token(subject: str | None = None) -> str:
    """An HS256 API token (signed with AUTH_JWT_SECRET) for a new or given user."""
    subject = subject or f"faults|{uuid.uuid4()}"
    now = int(time.time())
    claims = {
        "sub": subject,
        "email": f"{subject.split('|')[-1][:12]}@faults.example.com",
        "email_verified": True,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 3600,
    }
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    url: str,
    *,
    method: str = "GET",
    token: str | None = None,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> Answer:
    """One HTTP request to a server the suite started: status, headers, body and duration."""
    sent = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    if token:
        sent["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, method=method, headers=sent, data=data)
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(
                response.status,
                dict(response.headers),
                response.read(),
                time.monotonic() - started,
            )
    except urllib.error.HTTPError as error:
        return Answer(error.code, dict(error.headers), error.read(), time.monotonic() - started)


@contextmanager
def stopped(service: PostgresCluster | RedisServer) -> Iterator[None]:
    """`service` stopped for the block, started again after it (even when the block fails)."""
    service.stop()
    try:
        yield
    finally:
        service.start()


def log_since(path: Path, offset: int) -> str:
    """What a log file gained after `offset` bytes."""
    with open(path, "rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def stripe_delivery(event_id: str, event_type: str) -> tuple[bytes, dict[str, str]]:
    """A Stripe event body and its `Stripe-Signature` header, signed with the suite's secret."""
    body = json.dumps(
        {"id": event_id, "object": "event", "type": event_type, "data": {"object": {}}}
    ).encode()
    timestamp = int(time.time())
    signature = hmac.new(
        STRIPE_WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "Stripe-Signature": f"t={timestamp},v1={signature}",
    }


def ledger(cluster: PostgresCluster, event_ids: list[str]) -> dict[str, tuple[str, int]]:
    """The ledger's (status, attempts) of these Stripe events, by event id."""
    rows = cluster.execute(
        "SELECT event_id, status, attempts FROM webhook_events "
        "WHERE provider = 'stripe' AND event_id = ANY(%s)",
        (event_ids,),
    )
    return {event_id: (status, attempts) for event_id, status, attempts in rows}


LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ +([A-Z]+) +(\S+) ", re.MULTILINE)


def log_records(text: str) -> list[tuple[str, str, str]]:
    """The log's records (console format) as (level, logger, text with any traceback)."""
    starts = list(LOG_RECORD.finditer(text))
    return [
        (match.group(1), match.group(2), text[match.start() : ends.start() if ends else None])
        for match, ends in zip(starts, [*starts[1:], None], strict=True)
    ]
