"""Each provider through its real SDK against the local fake: requests, answers, streams, errors."""

from __future__ import annotations

import pytest

from ai.providers import registry
from ai.providers.base import (
    CompletionRequest,
    Message,
    ProviderRequestError,
    ProviderTimeout,
    ProviderUnavailable,
    StreamEnd,
    TextDelta,
)
from tests.ai.fakes import ANTHROPIC_KEY, GEMINI_KEY, OPENAI_KEY, Reply

TEXT = "First line\nsecond line\n\nthird"


def ask(*messages: tuple[str, str], max_tokens: int = 64) -> CompletionRequest:
    return CompletionRequest(
        messages=tuple(Message(role, content) for role, content in messages),  # type: ignore[arg-type]
        max_tokens=max_tokens,
        temperature=0.3,
    )


HELLO = ask(("user", "Hello"))


def collect(items):
    items = list(items)
    deltas = [item for item in items if isinstance(item, TextDelta)]
    assert isinstance(items[-1], StreamEnd)
    assert all(not isinstance(item, StreamEnd) for item in items[:-1])
    return "".join(delta.text for delta in deltas), items[-1], len(deltas)


def test_openai_complete(fakes):
    fake = fakes["openai"]
    fake.reply(TEXT, prompt_tokens=11, completion_tokens=7)
    completion = registry.get_provider("openai").complete(
        ask(("system", "Be brief"), ("user", "Hi")), model="gpt-4o", timeout=5
    )
    assert completion.content == TEXT
    assert (completion.provider, completion.model) == ("openai", "gpt-4o")
    assert completion.usage.prompt_tokens == 11 and completion.usage.total_tokens == 18
    assert completion.finish_reason == "stop" and completion.latency_ms >= 0
    sent = fake.requests[0]
    assert sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent.body["model"] == "gpt-4o"
    assert sent.body["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Hi"},
    ]
    assert sent.body["max_tokens"] == 64 and sent.body["temperature"] == 0.3
    assert sent.headers["x-stainless-retry-count"] == "0"


def test_openai_stream_yields_chunks_then_usage(fakes):
    fake = fakes["openai"]
    fake.reply(TEXT, prompt_tokens=9, completion_tokens=6, finish_reason="length")
    text, end, count = collect(
        registry.get_provider("openai").stream(HELLO, model="gpt-4o-mini", timeout=5)
    )
    assert text == TEXT and count > 1
    assert end == StreamEnd(
        model="gpt-4o-mini", provider="openai", usage=end.usage, finish_reason="length"
    )
    assert (end.usage.prompt_tokens, end.usage.completion_tokens) == (9, 6)
    body = fake.requests[0].body
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    # Every chunk and the usage arrived (above): the SDK may hang up right after `[DONE]`,
    # before the fake writes the chunked-encoding terminator, so the fake's completion flag
    # says nothing about the provider.


def test_openai_reasoning_models_take_max_completion_tokens(fakes):
    registry.get_provider("openai").complete(HELLO, model="o3-mini", timeout=5)
    body = fakes["openai"].requests[0].body
    assert body["max_completion_tokens"] == 64
    assert "max_tokens" not in body and "temperature" not in body


def test_anthropic_moves_system_and_merges_same_role_messages(fakes):
    fake = fakes["anthropic"]
    fake.reply(TEXT, prompt_tokens=20, completion_tokens=5)
    request = ask(
        ("system", "Be brief"),
        ("user", "One"),
        ("user", "Two"),
        ("assistant", "Ok"),
        ("system", "Answer in English"),
        ("user", "Three"),
    )
    completion = registry.get_provider("anthropic").complete(
        request, model="claude-3-5-haiku-latest", timeout=5
    )
    assert completion.content == TEXT and completion.provider == "anthropic"
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (20, 5)
    assert completion.finish_reason == "stop"
    sent = fake.requests[0]
    assert sent.path == "/v1/messages"
    assert sent.headers["authorization"] == f"Bearer {ANTHROPIC_KEY}"
    assert sent.body["system"] == "Be brief\n\nAnswer in English"
    assert sent.body["messages"] == [
        {"role": "user", "content": "One\n\nTwo"},
        {"role": "assistant", "content": "Ok"},
        {"role": "user", "content": "Three"},
    ]
    assert sent.body["model"] == "claude-3-5-haiku-latest" and sent.body["max_tokens"] == 64
    assert "temperature" not in sent.body  # API version 2026-10-21 rejects sampling parameters


def test_anthropic_without_system_sends_no_system(fakes):
    registry.get_provider("anthropic").complete(HELLO, model="claude-x", timeout=5)
    assert "system" not in fakes["anthropic"].requests[0].body


def test_anthropic_stream_reads_usage_from_start_and_delta(fakes):
    fakes["anthropic"].reply(
        TEXT, prompt_tokens=13, completion_tokens=8, finish_reason="max_tokens"
    )
    text, end, count = collect(
        registry.get_provider("anthropic").stream(HELLO, model="claude-x", timeout=5)
    )
    assert text == TEXT and count > 1
    assert (end.provider, end.model, end.finish_reason) == ("anthropic", "claude-x", "length")
    assert (end.usage.prompt_tokens, end.usage.completion_tokens) == (13, 8)
    assert fakes["anthropic"].requests[0].body["stream"] is True


def test_gemini_goes_through_its_openai_compatible_base_url(fakes):
    fake = fakes["gemini"]
    fake.reply(TEXT, prompt_tokens=4, completion_tokens=3)
    provider = registry.get_provider("gemini")
    completion = provider.complete(HELLO, model="gemini-2.0-flash", timeout=5)
    assert (completion.content, completion.provider) == (TEXT, "gemini")
    text, end, _ = collect(provider.stream(HELLO, model="gemini-2.0-flash", timeout=5))
    assert text == "Hello from the fake" and end.provider == "gemini"
    assert fake.paths() == ["/v1beta/openai/chat/completions"] * 2
    assert fake.requests[0].headers["authorization"] == f"Bearer {GEMINI_KEY}"
    assert fakes["openai"].requests == []


@pytest.mark.parametrize("name", ["openai", "anthropic", "gemini"])
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ProviderRequestError),
        (401, ProviderRequestError),
        (404, ProviderRequestError),
        (408, ProviderUnavailable),
        (429, ProviderUnavailable),
        (500, ProviderUnavailable),
        (503, ProviderUnavailable),
    ],
)
def test_http_errors_map_to_provider_errors(fakes, name, status, error):
    fakes[name].fail(status, message="model not found", times=2)
    provider = registry.get_provider(name)
    with pytest.raises(error) as raised:
        provider.complete(HELLO, model="m", timeout=5)
    assert (raised.value.provider, raised.value.status) == (name, status)
    with pytest.raises(error):
        next(iter(provider.stream(HELLO, model="m", timeout=5)))
    assert len(fakes[name].requests) == 2  # no SDK retries


def test_request_error_carries_the_provider_message(fakes):
    fakes["anthropic"].fail(400, message="prompt is too long")
    with pytest.raises(ProviderRequestError, match="prompt is too long"):
        registry.get_provider("anthropic").complete(HELLO, model="claude-x", timeout=5)


@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_no_answer_in_time_is_a_timeout(fakes, name):
    fakes[name].hang(5, times=2)
    provider = registry.get_provider(name)
    with pytest.raises(ProviderTimeout):
        provider.complete(HELLO, model="m", timeout=0.3)
    with pytest.raises(ProviderTimeout):
        list(provider.stream(HELLO, model="m", timeout=0.3))


@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_a_stalled_stream_times_out_per_chunk(fakes, name):
    fakes[name].reply("one two three", chunk_delay=2)
    stream = registry.get_provider(name).stream(HELLO, model="m", timeout=0.3)
    assert next(stream) == TextDelta("one ")
    with pytest.raises(ProviderTimeout):
        next(stream)


@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_a_dropped_stream_is_unavailable(fakes, name):
    fakes[name].break_stream(after=1)
    stream = registry.get_provider(name).stream(HELLO, model="m", timeout=5)
    assert next(stream) == TextDelta("one ")
    with pytest.raises(ProviderUnavailable):
        list(stream)


@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_an_error_inside_the_stream_is_unavailable(fakes, name):
    fakes[name].reply("one two", error_after=1, message="overloaded")
    stream = registry.get_provider(name).stream(HELLO, model="m", timeout=5)
    assert next(stream) == TextDelta("one ")
    with pytest.raises(ProviderUnavailable, match="overloaded"):
        list(stream)


# The fewest fields each API's answer carries.
OPENAI_ANSWER = {
    "choices": [{"message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 1},
}
ANTHROPIC_ANSWER = {
    "content": [{"type": "thinking", "thinking": "..."}, {"type": "text", "text": "Hi"}],
    "usage": {"input_tokens": 3, "output_tokens": 1},
    "stop_reason": "end_turn",
}


@pytest.mark.parametrize(
    ("name", "body"), [("openai", OPENAI_ANSWER), ("anthropic", ANTHROPIC_ANSWER)]
)
def test_the_fewest_fields_of_an_answer_are_enough(fakes, name, body):
    fakes[name].push(Reply(body=body))

    completion = registry.get_provider(name).complete(HELLO, model="m", timeout=5)

    assert (completion.content, completion.finish_reason) == ("Hi", "stop")
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (3, 1)


def test_an_openai_answer_without_text_or_usage_is_empty(fakes):
    fakes["openai"].push(Reply(body={"choices": [{"message": {"content": None}}]}))

    completion = registry.get_provider("openai").complete(HELLO, model="m", timeout=5)

    assert (completion.content, completion.finish_reason, completion.usage.total_tokens) == (
        "",
        None,
        0,
    )


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("openai", "not an object"),
        ("openai", {"choices": []}),
        ("openai", {**OPENAI_ANSWER, "choices": [{"message": {"content": ["Hi"]}}]}),
        ("openai", {**OPENAI_ANSWER, "usage": {"prompt_tokens": "3", "completion_tokens": 1}}),
        ("openai", {**OPENAI_ANSWER, "usage": {"prompt_tokens": -3, "completion_tokens": 1}}),
        ("anthropic", {"usage": ANTHROPIC_ANSWER["usage"]}),
        ("anthropic", {**ANTHROPIC_ANSWER, "content": [{"type": "text", "text": None}]}),
        ("anthropic", {**ANTHROPIC_ANSWER, "usage": {"input_tokens": 3}}),
        ("anthropic", {**ANTHROPIC_ANSWER, "usage": {"input_tokens": 3, "output_tokens": 1.5}}),
    ],
)
def test_a_malformed_answer_is_unavailable(fakes, name, body):
    fakes[name].push(Reply(body=body))

    with pytest.raises(ProviderUnavailable, match="malformed"):
        registry.get_provider(name).complete(HELLO, model="m", timeout=5)


def test_unreachable_provider_is_unavailable(fakes, settings):
    settings.OPENAI_BASE_URL = "http://127.0.0.1:9/v1"  # discard port: nothing listens
    with pytest.raises(ProviderUnavailable):
        registry.get_provider("openai").complete(HELLO, model="m", timeout=2)


@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_closing_the_stream_closes_the_upstream_response(fakes, name):
    fake = fakes[name]
    fake.reply(" ".join(["word"] * 50), chunk_delay=0.05)
    stream = registry.get_provider(name).stream(HELLO, model="m", timeout=5)
    assert isinstance(next(stream), TextDelta)
    stream.close()
    assert fake.wait_for_disconnect(timeout=3)
    assert not fake.requests[0].completed.is_set()


def test_clients_are_reused_and_rebuilt_when_settings_change(fakes, settings):
    first = registry.get_provider("openai")
    assert registry.get_provider("openai") is first
    settings.OPENAI_API_KEY = "sk-test-other"
    second = registry.get_provider("openai")
    assert second is not first
    second.complete(HELLO, model="m", timeout=5)
    assert fakes["openai"].requests[0].headers["authorization"] == "Bearer sk-test-other"
