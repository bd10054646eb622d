"""Which code handles which provider's events: the one place owning apps plug their business in.

`webhooks` stores and schedules events; it knows nothing of what they mean. An app that receives
a provider's webhooks registers a handler per event type from its `AppConfig.ready()`:

    class BillingConfig(AppConfig):
        name = "billing"

        def ready(self) -> None:
            from billing.stripe import events
            from webhooks.registry import register

            register("stripe", "customer.subscription.updated", events.subscription_changed)
            register("stripe", "invoice.paid", events.invoice_changed)

A handler is `Callable[[WebhookEvent], None]`. It runs inside a transaction that holds the event's
row lock (so it runs at most once at a time per event, and what it writes commits together with
the event becoming `processed`), inside a savepoint (so when it raises, its writes are undone and
the failure is recorded). It must be idempotent: after a failure it runs again with the same
event. Raise any exception to fail the attempt; it is retried with back-off. Events whose type
has no handler end `ignored`.

`register` returns a callable that removes the registration again (used by tests).

Each provider also declares what of its payloads the ledger keeps, once, from the same place
(`register_payload`): an allowlist of the fields its handlers read (`webhooks.payloads`), applied
before anything is stored, and how to tell whom an event is about (its `subject`: a user id, a
customer id, a purchase id), by which the events of an erased user are found and scrubbed
(`webhooks.services.webhook_events_scrub`). The ledger refuses to store events of a provider
that declared no allowlist.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ImproperlyConfigured

from webhooks.payloads import FieldSpec

if TYPE_CHECKING:
    from webhooks.models import WebhookEvent

Handler = Callable[["WebhookEvent"], None]

ANY_TYPE = "*"

_handlers: dict[tuple[str, str], Handler] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class PayloadPolicy:
    """What the ledger keeps of one provider's payloads.

    `fields`: the allowlist (`webhooks.payloads.FieldSpec`). `subject`: given the kept payload,
    the id of whom the event is about, or None (e.g. a price change concerns no one).
    """

    fields: FieldSpec
    subject: Callable[[Any], str | None] | None = None


_payloads: dict[str, PayloadPolicy] = {}


def register(provider: str, event_type: str, handler: Handler) -> Callable[[], None]:
    """Handle `provider`'s events of `event_type` (`"*"`: any type without its own handler).

    Registering the same handler twice is harmless; a second, different handler for the same
    (provider, type) is a configuration error. Returns a function that unregisters it.
    """
    if not provider or not event_type:
        raise ImproperlyConfigured("A webhook handler needs a provider and an event type.")
    key = (provider, event_type)
    with _lock:
        current = _handlers.get(key)
        if current is not None and current != handler:
            raise ImproperlyConfigured(
                f"The {provider} webhook type {event_type!r} already has a handler: "
                f"{getattr(current, '__qualname__', current)!r}."
            )
        _handlers[key] = handler

    def unregister() -> None:
        with _lock:
            if _handlers.get(key) == handler:
                del _handlers[key]

    return unregister


def handler_for(provider: str, event_type: str) -> Handler | None:
    """The handler for this provider's event type, else its `"*"` handler, else None."""
    return _handlers.get((provider, event_type)) or _handlers.get((provider, ANY_TYPE))


def register_payload(
    provider: str,
    *,
    fields: FieldSpec,
    subject: Callable[[Any], str | None] | None = None,
) -> Callable[[], None]:
    """Declare what of `provider`'s payloads is stored (`fields`) and whom an event is about
    (`subject`). Registering the same policy twice is harmless, a different one is a
    configuration error. Returns a function that unregisters it."""
    if not provider:
        raise ImproperlyConfigured("A webhook payload policy needs a provider.")
    policy = PayloadPolicy(fields=fields, subject=subject)
    with _lock:
        current = _payloads.get(provider)
        if current is not None and current != policy:
            raise ImproperlyConfigured(f"The {provider} webhook payload policy is already set.")
        _payloads[provider] = policy

    def unregister() -> None:
        with _lock:
            if _payloads.get(provider) == policy:
                del _payloads[provider]

    return unregister


def payload_policy(provider: str) -> PayloadPolicy:
    """The payload policy of `provider`; ImproperlyConfigured when it declared none."""
    policy = _payloads.get(provider)
    if policy is None:
        raise ImproperlyConfigured(
            f"The {provider} webhooks declare no payload allowlist "
            "(webhooks.registry.register_payload)."
        )
    return policy
