"""Providers that hang: the AI provider (through OPENAI_BASE_URL) and the identity provider's key
set (AUTH_JWKS_URL), under a production gunicorn.

Each call is cut at its timeout; the AI breaker then opens and calls fail at once without
reaching the provider, the key set is not fetched again for a while; and while a call hangs
the other threads serve (a health check answers).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from tests.ai.fakes import FakeAI
from tests.faults.conftest import (
    AI_TIMEOUT,
    AUDIENCE,
    ISSUER,
    JWKS_TIMEOUT,
    Answer,
    FakeJWKS,
    call,
    mint_token,
)
from tests.processes import HEALTH, Process, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.live]

CHAT = "/api/v1/app/ai/chat"
PROJECTS = "/api/v1/app/projects"
MARGIN = 1.5  # seconds beyond a timeout for the rest of the request


def _while_hanging(
    start: Callable[[], Answer], hanging: Callable[[], bool], server: Process
) -> tuple[Answer, float]:
    """Run `start` in a thread; once `hanging()`, a health check must answer at once. Returns
    the answer and the seconds from the provider being called to the answer."""
    with ThreadPoolExecutor(1) as pool:
        pending: Future[Answer] = pool.submit(start)
        wait_for(lambda: hanging() or pending.done(), what="the provider to be called", timeout=10)
        assert not pending.done(), pending.result()
        called_at = time.monotonic()
        health = call(server.url + HEALTH, timeout=5)
        assert health.status == 200 and health.seconds < 1, health
        assert not pending.done()  # it was still hanging while the health check answered
        answer = pending.result()
        return answer, time.monotonic() - called_at


def test_a_hanging_ai_provider_is_cut_at_its_timeout_and_its_breaker_opens(
    server: Process, fake_ai: FakeAI
) -> None:
    token = mint_token()
    seen = len(fake_ai.requests)
    fake_ai.hang(60, times=2)

    def chat() -> Answer:
        return call(server.url + CHAT, method="POST", token=token, body={"prompt": "hi"})

    first, hung = _while_hanging(chat, lambda: len(fake_ai.requests) > seen, server)
    assert first.status == 504, first.body
    assert first.json()["error"]["code"] == "GATEWAY_TIMEOUT"
    assert hung <= AI_TIMEOUT + MARGIN
    # The second failure in a row opens the breaker (AI_BREAKER_FAILURES=2).
    seen = len(fake_ai.requests)
    second, hung = _while_hanging(chat, lambda: len(fake_ai.requests) > seen, server)
    assert second.status == 504 and hung <= AI_TIMEOUT + MARGIN, second.body
    called = len(fake_ai.requests)

    # Open: every call fails at once without reaching the provider, even many at once.
    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: chat(), range(6)))
    # The router's contract (ai/router.py): every step failed, here skipped by its breaker.
    assert {answer.status for answer in answers} == {502}, answers[0].body
    assert {
        step["error"]
        for answer in answers
        for step in answer.json()["error"]["details"]["providers"]
    } == {"circuit_open"}
    assert max(answer.seconds for answer in answers) < 1
    assert len(fake_ai.requests) == called
    assert call(server.url + HEALTH).status == 200


def test_a_hanging_key_set_is_cut_at_its_timeout_and_not_fetched_again_at_once(
    server: Process, fake_jwks: FakeJWKS
) -> None:
    now = int(time.time())
    claims = {
        "sub": "faults|jwks-user",
        "email": "jwks-user@faults.example.com",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
    }
    # A key id the server has not seen: it must fetch the key set, which hangs.
    token = fake_jwks.key.sign(claims, kid="faults-unknown-kid")
    fake_jwks.delay, fake_jwks.delay_prefix = 60, "/.well-known"
    fetched = len(fake_jwks.requests)

    def me() -> Answer:
        return call(server.url + PROJECTS, token=token)

    try:
        first, hung = _while_hanging(me, lambda: len(fake_jwks.requests) > fetched, server)
        assert first.status == 503, first.body
        assert first.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
        assert hung <= JWKS_TIMEOUT + MARGIN
        # The same worker does not fetch again for a while: the next calls fail at once (a
        # worker that never tried waits its own timeout once).
        answers = [me() for _ in range(4)]
        assert {answer.status for answer in answers} == {503}
        assert sorted(answer.seconds for answer in answers)[-2] < 1
        assert len(fake_jwks.requests) - fetched <= len(server.children())
        # Tokens the server can verify without the key set are still served.
        assert call(server.url + PROJECTS, token=mint_token()).status == 200
    finally:
        fake_jwks.delay = 0
