"""Fixtures of the AI API tests: the offline echo provider unless a test points elsewhere."""

from __future__ import annotations

import copy
import inspect
from typing import Any

import pytest
from django.core.signals import request_finished
from django.db import close_old_connections
from django.http import StreamingHttpResponse


@pytest.fixture(autouse=True)
def _echo_provider(settings: Any) -> None:
    """Echo as the only provider, whatever keys the environment holds."""
    settings.OPENAI_API_KEY = ""
    settings.ANTHROPIC_API_KEY = ""
    settings.GEMINI_API_KEY = ""
    settings.AI_ECHO_ENABLED = True
    settings.AI_DEFAULT_PROVIDER = "echo"
    settings.AI_FALLBACK_PROVIDERS = []
    models = dict(settings.AI_PROVIDER_MODELS)
    models["echo"] = settings.ECHO_MODEL
    settings.AI_PROVIDER_MODELS = models
    settings.AI_DEFAULT_MODEL = settings.ECHO_MODEL
    settings.AI_ROUTES = {complexity: ("echo", None) for complexity in settings.AI_COMPLEXITIES}


@pytest.fixture
def allow_models(settings: Any):
    """Price `models` (0 per token unless given) and allow them on every plan:
    `allow_models("echo-2", "echo-large")`."""

    def allow(*models: str, price: tuple[float, float] = (0.0, 0.0)) -> None:
        settings.AI_MODEL_PRICES = {
            **settings.AI_MODEL_PRICES,
            **{model: price for model in models},
        }
        plans = copy.deepcopy(settings.BILLING_PLANS)
        for plan in plans.values():
            plan["ai_models"] = [*plan["ai_models"], *models]
        settings.BILLING_PLANS = plans

    return allow


@pytest.fixture
def free_allowance(settings: Any):
    """Set the free plan's monthly AI tokens: `free_allowance(10)`."""

    def set_allowance(tokens: int) -> None:
        plans = copy.deepcopy(settings.BILLING_PLANS)
        plans["free"]["ai_tokens_per_month"] = tokens
        settings.BILLING_PLANS = plans

    return set_allowance


def sse_events(body: bytes) -> list[tuple[str, str]]:
    """Parse a text/event-stream body as a browser does: (event type, data) per event."""
    events: list[tuple[str, str]] = []
    event = "message"
    data: list[str] = []
    for line in body.decode().split("\n"):
        if line == "":
            if data:
                events.append((event, "\n".join(data)))
            event, data = "message", []
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    return events


def close_response(response: StreamingHttpResponse) -> None:
    """Close a streamed response as the server does when the client goes away.

    Once reading has started, the test client's own iterator (its stand-in for the server) is
    closed: it closes the response while keeping the test's database connection. Before that,
    the response is closed directly, with the same care for the connection.
    """
    iterator = getattr(response, "_iterator", None)
    if inspect.isgenerator(iterator) and inspect.getgeneratorstate(iterator) == "GEN_SUSPENDED":
        iterator.close()
        return
    request_finished.disconnect(close_old_connections)
    try:
        response.close()
    finally:
        request_finished.connect(close_old_connections)
