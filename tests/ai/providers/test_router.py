"""The router through the real SDKs and fakes: plan, model translation, fallback, final errors."""

from __future__ import annotations

import logging

import pytest

from ai import router
from ai.providers.base import (
    CompletionRequest,
    Message,
    ProviderUnavailable,
    StreamEnd,
    TextDelta,
)
from config.errors import (
    BadRequestError,
    ExternalServiceError,
    GatewayTimeoutError,
    ServiceUnavailableError,
)

SECRET_PROMPT = "my secret prompt 4242"
HELLO = CompletionRequest(messages=(Message("user", SECRET_PROMPT),), max_tokens=32)


def request_with(model: str | None) -> CompletionRequest:
    return CompletionRequest(messages=HELLO.messages, model=model, max_tokens=32)


def models(fake):
    return [request.body["model"] for request in fake.requests]


# --- configured providers ------------------------------------------------------------------------
def test_configured_providers_default_first_then_fallbacks_then_rest(fakes, settings):
    settings.AI_ECHO_ENABLED = True
    settings.AI_DEFAULT_PROVIDER = "anthropic"
    settings.AI_FALLBACK_PROVIDERS = ["gemini", "echo"]
    assert router.configured_providers() == ["anthropic", "gemini", "echo", "openai"]
    settings.GEMINI_API_KEY = ""
    assert router.configured_providers() == ["anthropic", "echo", "openai"]


def test_echo_serves_with_no_keys(settings):
    settings.OPENAI_API_KEY = settings.ANTHROPIC_API_KEY = settings.GEMINI_API_KEY = ""
    settings.AI_ECHO_ENABLED = True
    settings.AI_DEFAULT_PROVIDER = "echo"
    settings.AI_FALLBACK_PROVIDERS = []
    assert router.configured_providers() == ["echo"]
    request = CompletionRequest(messages=(Message("user", "hello big world"),))
    completion = router.complete(request)
    assert (completion.content, completion.provider) == ("Echo: hello big world", "echo")
    assert completion.model == settings.AI_PROVIDER_MODELS["echo"]
    assert completion.usage.completion_tokens == 4
    items = list(router.stream(request))
    assert [item.text for item in items if isinstance(item, TextDelta)] == [
        "Echo: ",
        "hello ",
        "big ",
        "world",
    ]
    assert isinstance(items[-1], StreamEnd) and items[-1].provider == "echo"


# --- plan and model translation -----------------------------------------------------------------
def test_no_model_uses_the_default_providers_configured_model(fakes, settings):
    completion = router.complete(HELLO)
    assert (completion.provider, completion.model) == ("openai", settings.OPENAI_MODEL)
    assert models(fakes["openai"]) == [settings.OPENAI_MODEL]


def test_a_model_name_picks_its_provider(fakes):
    completion = router.complete(request_with("claude-sonnet-4-0"))
    assert (completion.provider, completion.model) == ("anthropic", "claude-sonnet-4-0")
    assert router.complete(HELLO, model="gemini-2.5-pro").provider == "gemini"
    assert models(fakes["gemini"]) == ["gemini-2.5-pro"]
    assert router.complete(HELLO, model="o3-mini").provider == "openai"
    assert fakes["openai"].requests[0].body["model"] == "o3-mini"


def test_the_provider_argument_wins_and_drops_a_foreign_model(fakes, settings):
    completion = router.complete(request_with("gpt-4o"), provider="anthropic")
    assert (completion.provider, completion.model) == ("anthropic", settings.ANTHROPIC_MODEL)


def test_an_unknown_model_goes_to_the_default_with_its_model(fakes, settings):
    completion = router.complete(request_with("mystery-model"))
    assert (completion.provider, completion.model) == ("openai", settings.OPENAI_MODEL)


def test_a_configured_model_name_is_owned_by_its_provider(fakes, settings):
    settings.OPENAI_MODEL = "llama3.1:8b"  # an OpenAI-compatible server's model
    settings.AI_PROVIDER_MODELS = {**settings.AI_PROVIDER_MODELS, "openai": "llama3.1:8b"}
    settings.AI_DEFAULT_PROVIDER = "anthropic"
    completion = router.complete(request_with("llama3.1:8b"))
    assert (completion.provider, completion.model) == ("openai", "llama3.1:8b")


def test_an_unknown_provider_is_a_bad_request(fakes):
    with pytest.raises(BadRequestError):
        router.complete(HELLO, provider="mistral")


# --- fallback ----------------------------------------------------------------------------------
def test_falls_back_on_a_server_error_with_the_fallbacks_model(fakes, settings):
    fakes["openai"].fail(500)
    completion = router.complete(request_with("gpt-4o"))
    assert (completion.provider, completion.model) == ("anthropic", settings.ANTHROPIC_MODEL)
    assert models(fakes["openai"]) == ["gpt-4o"]
    assert models(fakes["anthropic"]) == [settings.ANTHROPIC_MODEL]


def test_falls_back_on_a_timeout(fakes, settings):
    settings.AI_TIMEOUT_SECONDS = 0.3
    fakes["openai"].hang(5)
    completion = router.complete(HELLO)
    assert completion.provider == "anthropic"
    assert fakes["openai"].wait_for_disconnect()


@pytest.mark.parametrize("status", [408, 429, 502, 503])
def test_falls_back_on_retryable_statuses(fakes, status):
    fakes["openai"].fail(status)
    assert router.complete(HELLO).provider == "anthropic"


def test_does_not_fall_back_on_a_request_error(fakes):
    fakes["openai"].fail(400, message="context length exceeded")
    with pytest.raises(BadRequestError) as raised:
        router.complete(HELLO)
    assert raised.value.status_code == 400
    assert raised.value.message == "The AI provider openai refused the request"
    assert raised.value.details == {"service": "openai", "status": 400}
    assert fakes["anthropic"].requests == [] and fakes["gemini"].requests == []


def test_fallbacks_follow_their_order_skipping_unconfigured_and_duplicates(fakes, settings):
    settings.ANTHROPIC_API_KEY = ""
    settings.AI_FALLBACK_PROVIDERS = ["openai", "anthropic", "gemini", "gemini"]
    fakes["openai"].fail(503)
    assert router.complete(HELLO).provider == "gemini"
    assert len(fakes["openai"].requests) == 1 and fakes["anthropic"].requests == []


def test_unconfigured_requested_provider_uses_the_fallbacks(fakes, settings):
    settings.OPENAI_API_KEY = ""
    assert router.complete(request_with("gpt-4o")).provider == "anthropic"


def test_every_provider_failing_is_a_502_naming_each(fakes, settings):
    fakes["openai"].fail(500)
    fakes["anthropic"].fail(429)
    settings.AI_TIMEOUT_SECONDS = 0.3
    fakes["gemini"].hang(5)
    with pytest.raises(ExternalServiceError) as raised:
        router.complete(HELLO)
    assert raised.value.status_code == 502
    details = raised.value.details
    assert details["service"] == "ai"
    assert [(p["provider"], p["error"], p["status"]) for p in details["providers"]] == [
        ("openai", "unavailable", 500),
        ("anthropic", "unavailable", 429),
        ("gemini", "timeout", None),
    ]


def test_every_provider_timing_out_is_a_504(fakes, settings):
    settings.AI_TIMEOUT_SECONDS = 0.3
    for fake in fakes.values():
        fake.hang(5)
    with pytest.raises(GatewayTimeoutError) as raised:
        router.complete(HELLO)
    assert raised.value.status_code == 504
    assert [p["error"] for p in raised.value.details["providers"]] == ["timeout"] * 3


def test_nothing_configured_is_a_503(settings):
    settings.OPENAI_API_KEY = settings.ANTHROPIC_API_KEY = settings.GEMINI_API_KEY = ""
    settings.AI_ECHO_ENABLED = False
    assert router.configured_providers() == []
    with pytest.raises(ServiceUnavailableError) as raised:
        router.complete(HELLO)
    assert raised.value.status_code == 503
    with pytest.raises(ServiceUnavailableError):
        next(router.stream(HELLO))


def test_requested_provider_unconfigured_without_fallback_is_a_503(fakes, settings):
    settings.AI_FALLBACK_PROVIDERS = []
    settings.ANTHROPIC_API_KEY = ""
    with pytest.raises(ServiceUnavailableError) as raised:
        router.complete(HELLO, provider="anthropic")
    assert raised.value.details["provider"] == "anthropic"


def test_failures_are_logged_without_the_prompt(fakes, caplog):
    fakes["openai"].fail(500)
    with caplog.at_level(logging.WARNING, logger="ai.router"):
        router.complete(HELLO)
    [record] = [r for r in caplog.records if r.name == "ai.router"]
    assert record.levelno == logging.WARNING
    assert (record.provider, record.error, record.status) == ("openai", "unavailable", 500)
    assert "openai" in record.getMessage()
    assert SECRET_PROMPT not in caplog.text


# --- streaming ---------------------------------------------------------------------------------
def test_stream_from_the_default_provider(fakes, settings):
    fakes["openai"].reply("line one\nline two", prompt_tokens=3, completion_tokens=4)
    items = list(router.stream(HELLO))
    assert "".join(i.text for i in items if isinstance(i, TextDelta)) == "line one\nline two"
    end = items[-1]
    assert isinstance(end, StreamEnd)
    assert (end.provider, end.model, end.usage.total_tokens) == ("openai", settings.OPENAI_MODEL, 7)


def test_stream_failing_before_the_first_chunk_falls_back(fakes, settings):
    fakes["openai"].fail(500)
    items = list(router.stream(request_with("gpt-4o")))
    assert items[-1].provider == "anthropic" and items[-1].model == settings.ANTHROPIC_MODEL
    assert "".join(i.text for i in items if isinstance(i, TextDelta)) == "Hello from the fake"


def test_stream_dropped_before_the_first_chunk_falls_back(fakes):
    fakes["openai"].break_stream(after=0)
    items = list(router.stream(HELLO))
    assert items[-1].provider == "anthropic"


def test_stream_timing_out_before_the_first_chunk_falls_back(fakes, settings):
    settings.AI_TIMEOUT_SECONDS = 0.3
    fakes["openai"].hang(5)
    assert list(router.stream(HELLO))[-1].provider == "anthropic"


def test_stream_request_error_does_not_fall_back(fakes):
    fakes["openai"].fail(422, message="bad parameter")
    with pytest.raises(BadRequestError, match="The AI provider openai refused the request"):
        next(router.stream(HELLO))
    assert fakes["anthropic"].requests == []


def test_stream_failing_after_the_first_chunk_raises(fakes):
    fakes["openai"].break_stream(after=1)
    stream = router.stream(HELLO)
    assert next(stream) == TextDelta("one ")
    with pytest.raises(ProviderUnavailable) as raised:
        list(stream)
    assert raised.value.provider == "openai"
    assert fakes["anthropic"].requests == []


def test_stream_all_failing_is_a_502(fakes):
    for fake in fakes.values():
        fake.fail(503)
    with pytest.raises(ExternalServiceError):
        next(router.stream(HELLO))


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_closing_the_router_stream_disconnects_upstream(fakes, provider):
    fake = fakes[provider]
    fake.reply(" ".join(["word"] * 100), chunk_delay=0.05)
    stream = router.stream(HELLO, provider=provider)
    assert isinstance(next(stream), TextDelta)
    assert isinstance(next(stream), TextDelta)
    stream.close()
    assert fake.wait_for_disconnect(timeout=3)
    assert not fake.requests[0].completed.is_set()
