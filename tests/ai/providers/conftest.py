"""Fixtures for the provider and router tests: one fake server per provider, pointed at by settings.

`fakes` starts three fakes and configures openai (default), anthropic and gemini (fallbacks, in
that order) with test keys; echo is off. Tests change the settings further as they need.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.ai.fakes import FakeAI, point_provider, use_fake_ai


@pytest.fixture
def fakes(settings: Any) -> Iterator[dict[str, FakeAI]]:
    """{"openai": fake, "anthropic": fake, "gemini": fake}, each serving its provider."""
    with FakeAI.running() as openai, FakeAI.running() as anthropic, FakeAI.running() as gemini:
        use_fake_ai(settings, openai, "openai")
        point_provider(settings, "anthropic", anthropic)
        point_provider(settings, "gemini", gemini)
        settings.AI_FALLBACK_PROVIDERS = ["anthropic", "gemini"]
        settings.AI_BREAKER_FAILURES = 5
        settings.AI_BREAKER_RESET_SECONDS = 30
        yield {"openai": openai, "anthropic": anthropic, "gemini": gemini}


@pytest.fixture
def fake(fakes: dict[str, FakeAI]) -> FakeAI:
    """The openai fake (the default provider's)."""
    return fakes["openai"]
