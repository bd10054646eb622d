"""GET /ai/status, POST /ai/completions, /ai/chat and /ai/chat/routed answered as JSON (echo)."""

from __future__ import annotations

import pytest

from ai.models import AIUsage
from ai.serializers import CONTENT_MAX_LENGTH, MESSAGES_MAX

pytestmark = pytest.mark.django_db

STATUS = "/api/v1/app/ai/status"
COMPLETIONS = "/api/v1/app/ai/completions"
CHAT = "/api/v1/app/ai/chat"
ROUTED = "/api/v1/app/ai/chat/routed"


def test_status_lists_the_configured_providers(api, user):
    response = api.as_user(user).get(STATUS)

    assert response.status_code == 200
    assert response.json() == {
        "available": True,
        "providers": ["echo"],
        "default_provider": "echo",
        "default_model": "echo-1",
        "models": ["echo-1"],
    }
    assert "X-RateLimit-Limit" in response.headers


def test_status_without_any_provider(api, user, settings):
    settings.AI_ECHO_ENABLED = False

    response = api.as_user(user).get(STATUS)

    assert response.status_code == 200
    assert response.json() == {
        "available": False,
        "providers": [],
        "default_provider": None,
        "default_model": None,
        "models": [],
    }


def test_ai_needs_a_user(api):
    response = api.post(CHAT, {"prompt": "hi"})

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"


def test_completion_answers_the_conversation(api, user):
    response = api.as_user(user).post(
        COMPLETIONS,
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "hello there"},
                {"role": "assistant", "content": "Hi."},
                {"role": "user", "content": "say it again"},
            ],
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"content", "model", "provider", "usage", "finish_reason", "latency_ms"}
    assert body["content"] == "Echo: say it again"
    assert (body["model"], body["provider"], body["finish_reason"]) == ("echo-1", "echo", "stop")
    # echo counts words: 2 + 2 + 1 + 3 in, 4 out
    assert body["usage"] == {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12}
    assert isinstance(body["latency_ms"], int) and body["latency_ms"] >= 0


def test_completion_passes_model_and_max_tokens(api, user, allow_models):
    allow_models("echo-2")

    response = api.as_user(user).post(
        COMPLETIONS,
        {
            "messages": [{"role": "user", "content": "one two three four"}],
            "model": "echo-2",
            "max_tokens": 2,
            "temperature": 0,
        },
    )

    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "echo-2"
    assert body["content"] == "Echo: one "
    assert body["finish_reason"] == "length"


def test_chat_sends_the_system_prompt_and_the_prompt(api, user):
    response = api.as_user(user).post(CHAT, {"prompt": "how are you", "system": "Be kind."})

    assert response.status_code == 200
    body = response.json()
    assert body["content"] == "Echo: how are you"
    assert body["usage"]["prompt_tokens"] == 5  # "Be kind." + "how are you"


def test_routed_chat_uses_the_route_of_its_complexity(api, user, settings, allow_models):
    allow_models("echo-small", "echo-large")
    settings.AI_ROUTES = {
        "simple": ("echo", "echo-small"),
        "moderate": ("echo", None),
        "complex": ("echo", "echo-large"),
        "search": ("echo", None),
    }

    complex_answer = api.as_user(user).post(ROUTED, {"prompt": "hi", "complexity": "complex"})
    moderate_answer = api.as_user(user).post(ROUTED, {"prompt": "hi", "complexity": "moderate"})

    assert complex_answer.status_code == 200, complex_answer.json()
    assert complex_answer.json()["model"] == "echo-large"
    assert complex_answer.json()["provider"] == "echo"
    assert moderate_answer.json()["model"] == "echo-1"
    row = AIUsage.objects.filter(endpoint="chat_routed").order_by("created_at", "id").first()
    assert row is not None and row.model == "echo-large"


def test_routed_chat_does_not_stream(api, user):
    response = api.as_user(user).post(
        ROUTED, {"prompt": "hi", "complexity": "simple", "stream": True}
    )

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"


def _error(response):
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    return error["details"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"messages": []}, "messages"),
        ({}, "messages"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
        ({"messages": [{"role": "user", "content": ""}]}, "messages.0.content"),
        ({"messages": [{"role": "user"}]}, "messages.0.content"),
        ({"messages": "hello"}, "messages"),
        ({"messages": [{"role": "user", "content": "hi"}], "temperature": 2.5}, "temperature"),
        ({"messages": [{"role": "user", "content": "hi"}], "temperature": -0.1}, "temperature"),
        ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "hi"}], "model": "a b"}, "model"),
        ({"messages": [{"role": "user", "content": "hi"}], "stream": "maybe"}, "stream"),
    ],
)
def test_completion_validation(api, user, body, field):
    details = _error(api.as_user(user).post(COMPLETIONS, body))

    assert details["field"] == field


def test_max_tokens_above_the_configured_maximum(api, user, settings):
    allowed = api.as_user(user).post(
        COMPLETIONS,
        {"messages": [{"role": "user", "content": "hi"}], "max_tokens": settings.AI_MAX_TOKENS},
    )
    settings.AI_MAX_TOKENS = 50

    above = api.as_user(user).post(
        COMPLETIONS, {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 51}
    )

    assert allowed.status_code == 200
    assert _error(above)["field"] == "max_tokens"


def test_content_size_limits(api, user):
    too_long = api.as_user(user).post(CHAT, {"prompt": "x" * (CONTENT_MAX_LENGTH + 1)})
    too_many = api.as_user(user).post(
        COMPLETIONS, {"messages": [{"role": "user", "content": "hi"}] * (MESSAGES_MAX + 1)}
    )
    too_much = api.as_user(user).post(
        COMPLETIONS,
        {"messages": [{"role": "user", "content": "x" * CONTENT_MAX_LENGTH}] * 5},
    )

    assert _error(too_long)["field"] == "prompt"
    assert _error(too_many)["field"] == "messages"
    assert _error(too_much)["field"] == "messages"
    assert not AIUsage.objects.exists()


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (CHAT, {}, "prompt"),
        (CHAT, {"prompt": "hi", "temperature": 3}, "temperature"),
        (ROUTED, {"prompt": "hi"}, "complexity"),
        (ROUTED, {"prompt": "hi", "complexity": "hard"}, "complexity"),
    ],
)
def test_chat_validation(api, user, path, body, field):
    assert _error(api.as_user(user).post(path, body))["field"] == field


@pytest.mark.parametrize("path", [COMPLETIONS, CHAT, ROUTED])
def test_no_provider_configured_is_503(api, user, settings, path):
    settings.AI_ECHO_ENABLED = False
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "prompt": "hi",
        "complexity": "simple",
    }

    response = api.as_user(user).post(path, body)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    row = AIUsage.objects.get()
    assert (row.success, row.error_code, row.total_tokens) == (False, "SERVICE_UNAVAILABLE", 0)
    assert row.provider == "echo" and row.model
