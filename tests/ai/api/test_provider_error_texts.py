"""A provider's own error text never reaches the client: it is logged, and the client gets a
generic message naming the provider (400 refused, 502 failed, 504 timed out, details.service),
as JSON or as the stream's `event: error`."""

from __future__ import annotations

import json
import logging

import pytest

from tests.ai.api.conftest import sse_events
from tests.ai.fakes import FakeAI, use_fake_ai

pytestmark = pytest.mark.django_db

CHAT = "/api/v1/app/ai/chat"
SECRET = "Incorrect API key provided: sk-proj-LeAkEdSeCrEt0123456789abcdef for org-acme"


@pytest.fixture
def openai_fake(settings, caplog):
    caplog.set_level(logging.WARNING)
    with FakeAI.running() as fake:
        use_fake_ai(settings, fake, "openai")
        yield fake


def _error(response, status):
    assert response.status_code == status, response.content
    assert SECRET.encode() not in response.content
    assert b"sk-proj-" not in response.content
    return response.json()["error"]


def test_a_refused_request_hides_the_providers_text(api, user, openai_fake, caplog):
    openai_fake.fail(400, message=SECRET)

    error = _error(api.as_user(user).post(CHAT, {"prompt": "hi"}), 400)

    assert error["code"] == "BAD_REQUEST"
    assert error["message"] == "The AI provider openai refused the request"
    assert error["details"] == {"service": "openai", "status": 400}
    assert SECRET in caplog.text


def test_refused_credentials_are_a_502_naming_the_provider(api, user, openai_fake, caplog):
    openai_fake.fail(401, message=SECRET)

    error = _error(api.as_user(user).post(CHAT, {"prompt": "hi"}), 502)

    assert error["code"] == "EXTERNAL_SERVICE_ERROR"
    assert error["details"]["service"] == "openai"
    assert "openai" in error["message"]
    assert SECRET in caplog.text


def test_a_failing_provider_hides_its_text(api, user, openai_fake, caplog):
    openai_fake.fail(500, message=SECRET, times=3)

    error = _error(api.as_user(user).post(CHAT, {"prompt": "hi"}), 502)

    assert error["code"] == "EXTERNAL_SERVICE_ERROR"
    assert error["message"] == "The AI provider (openai) failed"
    assert error["details"]["service"] == "ai"
    assert [step["provider"] for step in error["details"]["providers"]] == ["openai"]
    assert SECRET in caplog.text


def test_a_timeout_is_a_504_naming_the_provider(api, user, openai_fake, settings):
    settings.AI_TIMEOUT_SECONDS = 0.3
    openai_fake.hang(3)

    error = _error(api.as_user(user).post(CHAT, {"prompt": "hi"}), 504)

    assert error["code"] == "GATEWAY_TIMEOUT"
    assert error["message"] == "The AI provider (openai) did not answer in time"
    assert error["details"]["service"] == "ai"


def test_a_stream_error_event_hides_the_providers_text(api, user, openai_fake, caplog):
    openai_fake.reply("one two three", error_after=1, message=SECRET)

    response = api.as_user(user).post(CHAT, {"prompt": "hi", "stream": True})
    body = b"".join(response.streaming_content)

    assert response.status_code == 200
    assert SECRET.encode() not in body and b"sk-proj-" not in body
    events = sse_events(body)
    error = json.loads(next(data for event, data in events if event == "error"))["error"]
    assert error["code"] == "EXTERNAL_SERVICE_ERROR"
    assert error["message"] == "The AI provider openai failed"
    assert error["details"]["service"] == "openai"
    assert SECRET in caplog.text
