"""The AI API against the local fake of the OpenAI and Anthropic wire formats (tests/ai/fakes.py):
fallback between providers, a provider failing mid-stream, and streams reaching the client."""

from __future__ import annotations

import json

import pytest

from ai.models import AIUsage
from tests.ai.api.conftest import close_response, sse_events
from tests.ai.fakes import FakeAI, use_fake_ai

pytestmark = pytest.mark.django_db

CHAT = "/api/v1/app/ai/chat"


@pytest.fixture
def openai_fake(settings):
    with FakeAI.running() as fake:
        use_fake_ai(settings, fake, "openai")
        yield fake


@pytest.fixture
def openai_then_anthropic(settings):
    """openai (default) and anthropic (fallback), each on its own fake."""
    with FakeAI.running() as openai, FakeAI.running() as anthropic:
        use_fake_ai(settings, openai, "openai", "anthropic")
        settings.ANTHROPIC_BASE_URL = anthropic.url
        yield openai, anthropic


def test_a_completion_from_openai(api, user, openai_fake):
    openai_fake.reply("Hi there", prompt_tokens=7, completion_tokens=2, finish_reason="stop")

    response = api.as_user(user).post(CHAT, {"prompt": "hello", "system": "Be brief."})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["content"], body["provider"], body["model"]) == (
        "Hi there",
        "openai",
        "gpt-4o-mini",
    )
    assert body["usage"] == {"prompt_tokens": 7, "completion_tokens": 2, "total_tokens": 9}
    sent = openai_fake.requests[0].body
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello"},
    ]
    row = AIUsage.objects.get()
    assert (row.provider, row.model, row.total_tokens, row.success) == (
        "openai",
        "gpt-4o-mini",
        9,
        True,
    )
    assert row.cost_estimate > 0  # gpt-4o-mini is priced


def test_fallback_shows_in_the_completion_and_the_usage_row(api, user, openai_then_anthropic):
    openai, anthropic = openai_then_anthropic
    openai.fail(500, times=10)
    anthropic.reply("From Claude", prompt_tokens=3, completion_tokens=2)

    response = api.as_user(user).post(CHAT, {"prompt": "hello"})

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["content"], body["provider"]) == ("From Claude", "anthropic")
    assert openai.requests and anthropic.requests
    row = AIUsage.objects.get()
    assert (row.provider, row.success, row.total_tokens) == ("anthropic", True, 5)


def test_every_provider_failing_is_502_and_recorded(api, user, openai_then_anthropic):
    openai, anthropic = openai_then_anthropic
    openai.fail(500, times=10)
    anthropic.fail(503, times=10)

    response = api.as_user(user).post(CHAT, {"prompt": "hello"})

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "EXTERNAL_SERVICE_ERROR"
    row = AIUsage.objects.get()
    assert (row.success, row.error_code, row.total_tokens) == (False, "EXTERNAL_SERVICE_ERROR", 0)
    assert (row.provider, row.model) == ("anthropic", "claude-3-5-haiku-latest")


def test_a_stream_from_openai_keeps_line_breaks(api, user, openai_fake):
    openai_fake.reply("x", chunks=("Hello", "\nworld", "!\n"), prompt_tokens=4, completion_tokens=3)

    response = api.as_user(user).post(CHAT, {"prompt": "hi", "stream": True})
    body = b"".join(response.streaming_content)

    assert body.startswith(
        b"data: Hello\n\ndata: \ndata: world\n\ndata: !\ndata: \n\nevent: done\n"
    )
    events = sse_events(body)
    assert "".join(data for event, data in events[:-1] if event == "message") == "Hello\nworld!\n"
    done = json.loads(events[-2][1])
    assert done["provider"] == "openai"
    assert done["usage"] == {"prompt_tokens": 4, "completion_tokens": 3, "total_tokens": 7}
    assert events[-1] == ("message", "[DONE]")
    assert AIUsage.objects.get().total_tokens == 7


def test_a_failure_after_the_first_chunk_ends_the_stream_with_an_error_event(
    api, user, openai_fake
):
    openai_fake.break_stream(2, text="one two three four")

    response = api.as_user(user).post(CHAT, {"prompt": "hi", "stream": True})
    body = b"".join(response.streaming_content)

    assert response.status_code == 200
    assert body.startswith(b"data: one \n\ndata: two \n\nevent: error\ndata: ")
    assert body.endswith(b"\n\ndata: [DONE]\n\n")
    events = sse_events(body)
    assert [event for event, _ in events] == ["message", "message", "error", "message"]
    error = json.loads(events[2][1])["error"]
    assert error["code"] == "EXTERNAL_SERVICE_ERROR"
    assert set(error) == {"code", "message", "details"}
    assert error["details"]["request_id"] == response["X-Request-ID"]
    row = AIUsage.objects.get()
    assert (row.success, row.error_code, row.provider) == (
        False,
        "EXTERNAL_SERVICE_ERROR",
        "openai",
    )
    assert row.completion_tokens > 0  # what was received before the failure, estimated


def test_a_stream_that_cannot_start_falls_back_before_answering(api, user, openai_then_anthropic):
    openai, anthropic = openai_then_anthropic
    openai.fail(500, times=10)
    anthropic.reply("Streamed by Claude")

    response = api.as_user(user).post(CHAT, {"prompt": "hi", "stream": True})
    events = sse_events(b"".join(response.streaming_content))

    assert json.loads(events[-2][1])["provider"] == "anthropic"
    assert "".join(data for event, data in events[:-2]) == "Streamed by Claude"


def test_a_stream_that_cannot_start_is_a_json_error(api, user, openai_fake):
    openai_fake.fail(500, times=10)

    response = api.as_user(user).post(CHAT, {"prompt": "hi", "stream": True})

    assert response.status_code == 502
    assert not response.streaming
    assert response.json()["error"]["code"] == "EXTERNAL_SERVICE_ERROR"
    assert AIUsage.objects.get().error_code == "EXTERNAL_SERVICE_ERROR"


def test_closing_the_response_closes_the_upstream_call(api, user, openai_fake):
    openai_fake.reply("a b c d e f g h", chunk_delay=0.2)

    response = api.as_user(user).post(CHAT, {"prompt": "hi", "stream": True})
    assert next(iter(response.streaming_content)) == b"data: a \n\n"
    close_response(response)

    assert openai_fake.wait_for_disconnect(timeout=5)
    assert AIUsage.objects.get().error_code == "CLIENT_DISCONNECTED"
