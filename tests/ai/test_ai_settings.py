"""The AI gateway's configuration read at start-up."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from tests.live import run_manage

PRINT_AI = (
    "import json; from django.conf import settings as s; print(json.dumps({"
    "'default': s.AI_DEFAULT_PROVIDER, 'model': s.AI_DEFAULT_MODEL, 'echo': s.AI_ECHO_ENABLED, "
    "'fallback': s.AI_FALLBACK_PROVIDERS, 'models': s.AI_PROVIDER_MODELS, "
    "'routes': s.AI_ROUTES, 'max': [s.AI_MAX_TOKENS, s.AI_DEFAULT_MAX_TOKENS], "
    "'price': s.AI_MODEL_PRICES.get('my-model')}))"
)


def test_defaults_serve_the_offline_echo_provider():
    assert settings.AI_DEFAULT_PROVIDER == "echo"
    assert settings.AI_DEFAULT_MODEL == "echo-1"
    assert settings.AI_ECHO_ENABLED is True
    assert settings.AI_FALLBACK_PROVIDERS == []
    assert (settings.AI_MAX_TOKENS, settings.AI_DEFAULT_MAX_TOKENS) == (4096, 1024)
    assert set(settings.AI_ROUTES) == {"simple", "moderate", "complex", "search"}
    assert all(route == ("echo", None) for route in settings.AI_ROUTES.values())


@pytest.mark.standalone
def test_good_values_are_parsed():
    env = {
        "AI_DEFAULT_PROVIDER": "anthropic",
        "AI_DEFAULT_MODEL": "claude-sonnet-4-0",
        "AI_FALLBACK_PROVIDERS": "openai, gemini",
        "AI_ROUTE_COMPLEX": "openai:gpt-4.1",
        "AI_ROUTE_SEARCH": "gemini",
        "AI_MAX_TOKENS": "512",
        "AI_MODEL_PRICES": '{"my-model": [0.5, 1.5]}',
    }

    result = run_manage(env, "shell", "--verbosity", "0", "-c", PRINT_AI)

    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["default"] == "anthropic"
    assert shown["model"] == shown["models"]["anthropic"] == "claude-sonnet-4-0"
    assert shown["models"]["openai"] == "gpt-4o-mini"
    assert shown["fallback"] == ["openai", "gemini"]
    assert shown["routes"]["complex"] == ["openai", "gpt-4.1"]
    assert shown["routes"]["search"] == ["gemini", None]
    assert shown["routes"]["simple"] == ["anthropic", None]
    assert shown["max"] == [512, 512]
    assert shown["price"] == [0.5, 1.5]
    assert shown["echo"] is True


@pytest.mark.standalone
def test_bad_values_stop_start_up_and_are_all_listed():
    env = {
        "AI_DEFAULT_PROVIDER": "skynet",
        "AI_FALLBACK_PROVIDERS": "openai,bogus",
        "AI_ROUTE_SIMPLE": "bogus:model",
        "AI_MODEL_PRICES": "[1, 2]",
        "AI_MAX_TOKENS": "0",
        "AI_TIMEOUT_SECONDS": "0",
        "AI_BREAKER_FAILURES": "zero",
    }

    result = run_manage(env, "check")

    assert result.returncode != 0
    for name in env:
        assert f"- {name}" in result.stderr, name


@pytest.mark.standalone
def test_production_has_no_echo_unless_named_and_wants_the_default_providers_key():
    from tests.config.test_settings import GOOD_PRODUCTION

    production = run_manage(GOOD_PRODUCTION, "shell", "--verbosity", "0", "-c", PRINT_AI)
    named = run_manage(
        {**GOOD_PRODUCTION, "AI_DEFAULT_PROVIDER": "echo"},
        "shell",
        "--verbosity",
        "0",
        "-c",
        PRINT_AI,
    )
    keyless = run_manage({**GOOD_PRODUCTION, "ANTHROPIC_API_KEY": "sk-ant-x"}, "check")

    assert production.returncode == 0, production.stderr
    assert json.loads(production.stdout)["default"] == "openai"
    assert json.loads(production.stdout)["echo"] is False
    assert json.loads(named.stdout)["echo"] is True
    assert keyless.returncode != 0
    assert "AI_DEFAULT_PROVIDER=openai has no API key (OPENAI_API_KEY)" in keyless.stderr


@pytest.mark.standalone
def test_every_model_a_call_can_reach_must_be_priced():
    env = {
        "OPENAI_MODEL": "llama3.1:8b",
        "AI_ROUTE_COMPLEX": "anthropic:claude-unpriced",
        "AI_MODEL_PRICES": '{"gpt-4o": [-1, 2], "x": [1]}',
    }
    priced = {**env, "AI_MODEL_PRICES": '{"llama3.1:8b": [0, 0], "claude-unpriced": [1, 5]}'}

    refused = run_manage(env, "check")
    accepted = run_manage(priced, "check")

    assert refused.returncode != 0
    assert "- OPENAI_MODEL: the model 'llama3.1:8b' has no price" in refused.stderr
    assert "- AI_ROUTE_COMPLEX: the model 'claude-unpriced' has no price" in refused.stderr
    assert "- AI_MODEL_PRICES must be JSON" in refused.stderr
    assert accepted.returncode == 0, accepted.stderr


@pytest.mark.standalone
def test_the_default_model_must_be_priced():
    result = run_manage({"AI_DEFAULT_MODEL": "echo-9000"}, "check")

    assert result.returncode != 0
    assert "- AI_DEFAULT_MODEL: the model 'echo-9000' has no price" in result.stderr
