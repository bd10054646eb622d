"""`stream: true`: server-sent events framed exactly as API.md §6 says (echo provider)."""

from __future__ import annotations

import json

import pytest

from ai.models import AIUsage
from tests.ai.api.conftest import close_response, sse_events

pytestmark = pytest.mark.django_db

COMPLETIONS = "/api/v1/app/ai/completions"
CHAT = "/api/v1/app/ai/chat"


def _stream(api, user, path, body):
    response = api.as_user(user).post(path, {**body, "stream": True})
    assert response.status_code == 200
    assert response.streaming
    return response


def test_stream_bytes_with_chunks_holding_line_breaks(api, user):
    response = _stream(api, user, CHAT, {"prompt": "one\ntwo\n\nthree"})

    body = b"".join(response.streaming_content)

    # echo streams "Echo: one\ntwo\n\nthree" as "Echo: ", "one\n", "two\n\n", "three"
    assert body == (
        b"data: Echo: \n\n"
        b"data: one\ndata: \n\n"
        b"data: two\ndata: \ndata: \n\n"
        b"data: three\n\n"
        b"event: done\n"
        b'data: {"model":"echo-1","provider":"echo","usage":{"prompt_tokens":3,'
        b'"completion_tokens":4,"total_tokens":7},"finish_reason":"stop"}\n\n'
        b"data: [DONE]\n\n"
    )


def test_stream_headers(api, user):
    response = _stream(api, user, CHAT, {"prompt": "hi"})
    b"".join(response.streaming_content)

    assert response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    assert response["X-Accel-Buffering"] == "no"
    assert response["X-Request-ID"]
    assert response["X-RateLimit-Limit"]


def test_a_client_joins_the_chunks_back_into_the_answer(api, user):
    prompt = "first line\n  indented line\r\nlast: line "
    expected = api.as_user(user).post(CHAT, {"prompt": prompt}).json()

    response = _stream(api, user, CHAT, {"prompt": prompt})
    events = sse_events(b"".join(response.streaming_content))

    text = "".join(data for event, data in events if event == "message" and data != "[DONE]")
    done = json.loads(next(data for event, data in events if event == "done"))
    assert text == expected["content"].replace("\r\n", "\n")
    assert done == {
        "model": expected["model"],
        "provider": expected["provider"],
        "usage": expected["usage"],
        "finish_reason": expected["finish_reason"],
    }
    assert events[-1] == ("message", "[DONE]")


def test_completions_stream_and_chunks_arrive_one_by_one(api, user):
    response = _stream(api, user, COMPLETIONS, {"messages": [{"role": "user", "content": "a b c"}]})

    chunks = list(response.streaming_content)

    assert chunks[:4] == [b"data: Echo: \n\n", b"data: a \n\n", b"data: b \n\n", b"data: c\n\n"]
    assert chunks[4].startswith(b"event: done\n")
    assert chunks[5] == b"data: [DONE]\n\n"


def test_a_finished_stream_records_one_usage_row(api, user):
    response = _stream(api, user, CHAT, {"prompt": "a b c"})
    assert not AIUsage.objects.exists()  # nothing is sent, nor recorded, before it is read

    b"".join(response.streaming_content)  # the server closes the response at the end

    row = AIUsage.objects.get()
    assert (row.endpoint, row.streamed, row.success, row.error_code) == ("chat", True, True, "")
    assert (row.provider, row.model) == ("echo", "echo-1")
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (3, 4, 7)


def test_a_stream_closed_early_is_recorded_as_a_disconnect(api, user):
    response = _stream(api, user, CHAT, {"prompt": "one two three four five"})
    chunks = iter(response.streaming_content)

    assert next(chunks) == b"data: Echo: \n\n"
    close_response(response)  # what the server does when the client goes away

    row = AIUsage.objects.get()
    assert (row.success, row.error_code, row.streamed) == (False, "CLIENT_DISCONNECTED", True)
    # usage estimated from characters: the prompt's 23 and the 6 sent, at 4 per token
    assert (row.prompt_tokens, row.completion_tokens) == (6, 2)


def test_a_stream_never_read_is_recorded_when_closed(api, user):
    response = _stream(api, user, CHAT, {"prompt": "hello"})

    close_response(response)

    row = AIUsage.objects.get()
    assert row.error_code == "CLIENT_DISCONNECTED"


@pytest.mark.parametrize("path", [COMPLETIONS, CHAT])
def test_failures_before_the_stream_starts_are_json_errors(api, user, settings, path):
    settings.AI_ECHO_ENABLED = False
    body = {"messages": [{"role": "user", "content": "hi"}], "prompt": "hi", "stream": True}

    response = api.as_user(user).post(path, body)

    assert response.status_code == 503
    assert not response.streaming
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert AIUsage.objects.get().error_code == "SERVICE_UNAVAILABLE"


def test_validation_errors_on_a_stream_request_are_json(api, user):
    response = api.as_user(user).post(CHAT, {"prompt": "", "stream": True})

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "prompt"
