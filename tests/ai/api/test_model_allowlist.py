"""Which AI models a user may call: their plan's allowlist of priced models (BILLING_PLANS
`ai_models`, AI_MODEL_PRICES), checked before any provider is called, on every route to a model
(named, default, fallback, routed by complexity), and the price table behind the usage rows."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ai.models import AIUsage
from tests.ai.api.conftest import sse_events
from tests.ai.fakes import FakeAI, use_fake_ai
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

STATUS = "/api/v1/app/ai/status"
COMPLETIONS = "/api/v1/app/ai/completions"
CHAT = "/api/v1/app/ai/chat"
ROUTED = "/api/v1/app/ai/chat/routed"
EXPENSIVE = "claude-opus-4-1"  # priced, enterprise only by default


@pytest.fixture
def fake(settings):
    """openai (default) and anthropic (fallback), both answered by one fake server."""
    with FakeAI.running() as server:
        use_fake_ai(settings, server, "openai", "anthropic")
        yield server


@pytest.fixture
def pro_user(db):
    return UserFactory(subscription_plan="pro")


@pytest.fixture
def enterprise_user(db):
    return UserFactory(subscription_plan="enterprise")


def _refused(response, field="model"):
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["field"] == field
    return error


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CHAT, {"prompt": "hi", "model": EXPENSIVE}),
        (CHAT, {"prompt": "hi", "model": EXPENSIVE, "stream": True}),
        (COMPLETIONS, {"messages": [{"role": "user", "content": "hi"}], "model": "gpt-4o"}),
    ],
)
def test_a_free_user_cannot_ask_for_a_model_outside_their_plan(api, user, fake, path, body):
    response = api.as_user(user).post(path, body)

    error = _refused(response)
    assert error["details"]["errors"][0]["code"] == "not_in_plan"
    assert body["model"] in error["details"]["errors"][0]["message"]
    assert fake.requests == []  # no upstream call
    assert not AIUsage.objects.exists()


def test_an_unpriced_model_is_refused_on_every_plan(api, enterprise_user, fake):
    response = api.as_user(enterprise_user).post(CHAT, {"prompt": "hi", "model": "gpt-9-ultra"})

    error = _refused(response)
    assert error["details"]["errors"][0]["code"] == "unknown_model"
    assert fake.requests == []
    assert not AIUsage.objects.exists()


def test_a_model_in_the_plan_is_served_and_costed_from_the_price_table(api, pro_user, fake):
    fake.reply("Sure", prompt_tokens=1000, completion_tokens=500)

    response = api.as_user(pro_user).post(CHAT, {"prompt": "hi", "model": "gpt-4o"})

    assert response.status_code == 200, response.content
    assert fake.requests[0].body["model"] == "gpt-4o"
    row = AIUsage.objects.get()
    # gpt-4o: $2.50 input, $10.00 output per million tokens
    assert (row.model, row.cost_estimate) == ("gpt-4o", Decimal("0.0075"))


def test_the_plan_allowlist_is_configurable(api, pro_user, fake, settings):
    plans = json.loads(json.dumps(settings.BILLING_PLANS))
    plans["pro"]["ai_models"] = [settings.AI_DEFAULT_MODEL]
    settings.BILLING_PLANS = plans

    response = api.as_user(pro_user).post(CHAT, {"prompt": "hi", "model": "gpt-4o"})

    _refused(response)
    assert fake.requests == []


def test_a_fallback_whose_model_the_plan_does_not_allow_is_skipped(api, user, settings):
    settings.ANTHROPIC_MODEL = "claude-sonnet-4-0"  # priced, not in the free plan
    with FakeAI.running() as openai, FakeAI.running() as anthropic:
        use_fake_ai(settings, openai, "openai", "anthropic")
        settings.ANTHROPIC_BASE_URL = anthropic.url
        openai.fail(500, times=5)

        response = api.as_user(user).post(CHAT, {"prompt": "hi"})

        assert response.status_code == 502, response.content
        assert len(openai.requests) == 1
        assert anthropic.requests == []


def test_routing_picks_only_models_the_plan_allows(api, user, pro_user, fake, settings):
    settings.AI_ROUTES = {**settings.AI_ROUTES, "complex": ("openai", "gpt-4.1")}

    free = api.as_user(user).post(ROUTED, {"prompt": "hi", "complexity": "complex"})
    pro = api.as_user(pro_user).post(ROUTED, {"prompt": "hi", "complexity": "complex"})

    assert free.status_code == 200 and pro.status_code == 200
    # The free plan does not allow gpt-4.1: its route falls back to openai's own model.
    assert [request.body["model"] for request in fake.requests] == ["gpt-4o-mini", "gpt-4.1"]
    assert (free.json()["model"], pro.json()["model"]) == ("gpt-4o-mini", "gpt-4.1")


def test_routing_with_no_allowed_model_is_refused_naming_complexity(api, user, fake, settings):
    plans = json.loads(json.dumps(settings.BILLING_PLANS))
    plans["free"]["ai_models"] = []
    settings.BILLING_PLANS = plans

    response = api.as_user(user).post(ROUTED, {"prompt": "hi", "complexity": "simple"})

    _refused(response, field="complexity")
    assert fake.requests == []


def test_status_lists_the_models_of_the_users_plan(api, user, pro_user, fake, settings):
    free = api.as_user(user).get(STATUS).json()["models"]
    pro = api.as_user(pro_user).get(STATUS).json()["models"]

    assert "gpt-4o-mini" in free and "claude-3-5-haiku-latest" in free
    assert "gpt-4o" not in free and EXPENSIVE not in free
    assert "gpt-4o" in pro and "claude-sonnet-4-0" in pro
    assert not any(model.startswith("gemini") for model in pro)  # gemini is not configured
    assert set(free) <= set(settings.AI_MODEL_PRICES)


def test_a_stream_of_an_allowed_model_is_served(api, user, fake):
    fake.reply("one two")

    response = api.as_user(user).post(
        CHAT, {"prompt": "hi", "model": "gpt-4o-mini", "stream": True}
    )

    events = sse_events(b"".join(response.streaming_content))
    assert events[-2][0] == "done"
    assert fake.requests[0].body["model"] == "gpt-4o-mini"
