"""Fixtures for the webhooks tests: the test provider configured, handlers that record calls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from accounts.models import User
from tests.webhooks.provider import PROVIDER, SECRET
from webhooks.models import WebhookEvent
from webhooks.payloads import ALL
from webhooks.registry import register, register_payload

# Providers of these tests (the test provider, and one more for cross-provider cases): their
# payloads are kept whole, and an event's subject is its `subject` field.
TEST_PROVIDERS = (PROVIDER, "other")


def payload_subject(payload: Any) -> str | None:
    """The `subject` field of a test payload."""
    subject = payload.get("subject") if isinstance(payload, dict) else None
    return subject if isinstance(subject, str) else None


@pytest.fixture(autouse=True)
def test_payloads() -> Iterator[None]:
    """The test providers declare their payload policy, as real providers do at start-up."""
    undo = [
        register_payload(provider, fields=ALL, subject=payload_subject)
        for provider in TEST_PROVIDERS
    ]
    yield
    for unregister in undo:
        unregister()


@pytest.fixture(autouse=True)
def webhook_settings(settings: Any) -> None:
    """The test provider is configured; retries are few and immediate."""
    settings.TEST_WEBHOOK_SECRET = SECRET
    settings.WEBHOOK_MAX_RETRIES = 3
    settings.WEBHOOK_RETRY_BACKOFF_SECONDS = 0


class Recorder:
    """A handler that records each call and leaves a trace in the database: a user row.

    It raises on its first `failures` calls (after writing, so a failed attempt's writes must be
    undone), or on every call when `failures` is None.
    """

    def __init__(self, failures: int | None = 0) -> None:
        self.failures = failures
        self.calls: list[str] = []

    def __call__(self, event: WebhookEvent) -> None:
        self.calls.append(event.event_id)
        attempt = len(self.calls)
        User.objects.create(
            id=f"webhook|{event.event_id}|{attempt}",
            email=f"attempt{attempt}@example.com",
            password="!unusable",
        )
        if self.failures is None or attempt <= self.failures:
            raise RuntimeError(f"handler failed on call {attempt}")

    @staticmethod
    def traces() -> list[str]:
        """Ids of the users that handler calls which committed left behind."""
        return sorted(User.objects.filter(id__startswith="webhook|").values_list("id", flat=True))


@pytest.fixture
def handle() -> Iterator[Callable[..., Recorder]]:
    """`handle(event_type, failures=0)` registers a Recorder for the test provider."""
    unregister: list[Callable[[], None]] = []

    def add(event_type: str, failures: int | None = 0) -> Recorder:
        recorder = Recorder(failures)
        unregister.append(register(PROVIDER, event_type, recorder))
        return recorder

    yield add
    for undo in reversed(unregister):
        undo()
