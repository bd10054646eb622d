"""The circuit breaker, through the router and the fakes: open, skip, half-open probe, close."""

from __future__ import annotations

import logging
import time

import pytest

from ai import breaker, router
from ai.providers.base import CompletionRequest, Message, TextDelta
from config.errors import BadRequestError, ExternalServiceError

HELLO = CompletionRequest(messages=(Message("user", "hi"),), max_tokens=16)
RESET = 0.4


@pytest.fixture
def tight(fakes, settings):
    """Breakers that open after 2 failures and half-open after RESET seconds."""
    settings.AI_BREAKER_FAILURES = 2
    settings.AI_BREAKER_RESET_SECONDS = RESET
    return fakes


def open_openai(fakes) -> None:
    fakes["openai"].fail(500, times=2)
    for _ in range(2):
        assert router.complete(HELLO).provider == "anthropic"
    assert breaker.state("openai") == "open"


def test_opens_after_consecutive_failures_and_skips_the_provider(tight):
    open_openai(tight)
    calls = len(tight["openai"].requests)
    assert router.complete(HELLO).provider == "anthropic"
    assert len(list(router.stream(HELLO))) > 1
    assert len(tight["openai"].requests) == calls  # not called while open


def test_a_success_resets_the_count(tight):
    tight["openai"].fail(500)
    router.complete(HELLO)
    assert router.complete(HELLO).provider == "openai"
    tight["openai"].fail(500)
    router.complete(HELLO)
    assert breaker.state("openai") == "closed"


def test_request_errors_do_not_count(tight):
    tight["openai"].fail(400, times=3)
    for _ in range(3):
        with pytest.raises(BadRequestError, match="The AI provider openai refused the request"):
            router.complete(HELLO)
    assert breaker.state("openai") == "closed"


def test_half_open_probe_success_closes(tight):
    open_openai(tight)
    time.sleep(RESET + 0.1)
    assert breaker.state("openai") == "half_open"
    assert router.complete(HELLO).provider == "openai"  # the probe
    assert breaker.state("openai") == "closed"
    assert router.complete(HELLO).provider == "openai"


def test_half_open_probe_failure_reopens(tight):
    open_openai(tight)
    time.sleep(RESET + 0.1)
    tight["openai"].fail(503)
    calls = len(tight["openai"].requests)
    assert router.complete(HELLO).provider == "anthropic"
    assert len(tight["openai"].requests) == calls + 1  # the probe was sent
    assert breaker.state("openai") == "open"
    assert router.complete(HELLO).provider == "anthropic"
    assert len(tight["openai"].requests) == calls + 1


def test_only_one_caller_probes(tight):
    open_openai(tight)
    time.sleep(RESET + 0.1)
    assert breaker.allow("openai") is True
    assert breaker.allow("openai") is False
    breaker.release("openai")
    assert breaker.allow("openai") is True


def test_a_stream_probe_closes_on_its_first_chunk(tight):
    open_openai(tight)
    time.sleep(RESET + 0.1)
    stream = router.stream(HELLO)
    assert isinstance(next(stream), TextDelta)
    assert breaker.state("openai") == "closed"
    stream.close()


def test_open_providers_count_as_failures_in_the_502(tight):
    open_openai(tight)
    tight["anthropic"].fail(500)
    tight["gemini"].fail(500)
    with pytest.raises(ExternalServiceError) as raised:
        router.complete(HELLO)
    assert [(p["provider"], p["error"]) for p in raised.value.details["providers"]] == [
        ("openai", "circuit_open"),
        ("anthropic", "unavailable"),
        ("gemini", "unavailable"),
    ]


def test_a_cache_outage_does_not_break_calls(tight, settings, caplog):
    settings.CACHES = {"default": {"BACKEND": "tests.ai.fakes.BrokenCache"}}
    tight["openai"].fail(500, times=3)
    with caplog.at_level(logging.WARNING, logger="ai.breaker"):
        for _ in range(3):
            assert router.complete(HELLO).provider == "anthropic"
        assert router.complete(HELLO).provider == "openai"  # never opened: treated as closed
    assert breaker.state("openai") == "closed"
    assert any("cache" in record.getMessage() for record in caplog.records)
