"""Every call to Stripe's API goes through here.

One place that applies the settings to the SDK (key, pinned API version, base URL, timeout,
network retries), gives every POST an idempotency key, and turns the SDK's errors into the
API's: a timeout or connection failure is 504 `GatewayTimeoutError`, any other Stripe error
502 `ExternalServiceError` (`details.service = "stripe"`), an idempotency key reused with other
parameters 409 `ConflictError`, and Stripe not configured 503 `ServiceUnavailableError`.

dj-stripe's `sync_from_stripe_data` calls the API too (the account, and related objects it does
not have yet), so syncs run through `stripe_call` as well.

Idempotency keys (`idempotency_key`) are UUID5s of the user, the action and what the action
starts from, so a retry of the same request (a double click, a client retrying after a timeout)
replays Stripe's first answer instead of acting twice, while the next deliberate action, which
starts from a different state, gets a new key. A client may send its own `Idempotency-Key`
header instead; it is namespaced by user and action before it reaches Stripe.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import stripe
from django.conf import settings

from config.errors import (
    ConflictError,
    ExternalServiceError,
    GatewayTimeoutError,
    ServiceUnavailableError,
)

logger = logging.getLogger(__name__)

SERVICE = "stripe"
IDEMPOTENCY_NAMESPACE = uuid.UUID("0f3c1c6e-8a55-4b8e-9d8e-5b1f0f6b7a31")
# How a Subscription is read: its items' prices inline (the plan), the product as an id.
SUBSCRIPTION_EXPAND = ["items.data.price"]

_applied: tuple[Any, ...] | None = None


def is_configured() -> bool:
    """Stripe calls are possible: a secret key is set."""
    return bool(settings.STRIPE_SECRET_KEY)


def require_configured() -> None:
    """503 unless Stripe is configured."""
    if not is_configured():
        raise ServiceUnavailableError(
            "Stripe billing is not configured", details={"service": SERVICE}
        )


def apply_settings() -> None:
    """Point the SDK (and so dj-stripe) at `STRIPE_API_BASE` with the configured timeouts.

    Runs at start-up and before each call, so settings changed at run time (tests) apply; it
    only rebuilds the HTTP client when something changed.
    """
    global _applied
    wanted = (
        settings.STRIPE_API_BASE,
        settings.STRIPE_TIMEOUT_SECONDS,
        settings.STRIPE_MAX_NETWORK_RETRIES,
    )
    if wanted == _applied:
        return
    stripe.api_base = settings.STRIPE_API_BASE
    stripe.max_network_retries = settings.STRIPE_MAX_NETWORK_RETRIES
    stripe.default_http_client = stripe.new_default_http_client(
        timeout=settings.STRIPE_TIMEOUT_SECONDS
    )
    _applied = wanted


def request_options() -> dict[str, Any]:
    """The key and pinned API version every SDK call is given."""
    return {"api_key": settings.STRIPE_SECRET_KEY, "stripe_version": settings.STRIPE_API_VERSION}


@contextmanager
def stripe_call(action: str) -> Iterator[None]:
    """Run Stripe API calls (the SDK's or dj-stripe's), translating their errors.

    `action` names the call in logs and in the error's details.
    """
    require_configured()
    apply_settings()
    try:
        yield
    except stripe.APIConnectionError as error:
        logger.warning("stripe %s: no answer: %s", action, error.user_message or error)
        raise GatewayTimeoutError(
            "Stripe did not answer in time", details={"service": SERVICE, "action": action}
        ) from error
    except stripe.IdempotencyError as error:
        raise ConflictError(
            "This Idempotency-Key was already used for a different request",
            details={"service": SERVICE, "action": action},
        ) from error
    except stripe.StripeError as error:
        logger.warning(
            "stripe %s failed: %s %s",
            action,
            error.http_status,
            error.user_message or error,
            extra={"stripe_request_id": error.request_id},
        )
        details: dict[str, Any] = {"service": SERVICE, "action": action}
        if error.http_status:
            details["status"] = error.http_status
        if error.code:
            details["stripe_code"] = error.code
        raise ExternalServiceError("Stripe request failed", details=details) from error


def idempotency_key(
    *, user_id: str, action: str, parts: Sequence[object] = (), client_key: str | None = None
) -> str:
    """The Idempotency-Key of one intent of one user.

    With `client_key` (the request's own `Idempotency-Key`), the client decides what counts as
    a retry; otherwise `parts` do: the request's parameters and the version of the state the
    action starts from.
    """
    material = [user_id, action, *([f"client:{client_key}"] if client_key else map(str, parts))]
    return str(uuid.uuid5(IDEMPOTENCY_NAMESPACE, "\x1f".join(material)))


# --- Reads -----------------------------------------------------------------------------------


def subscription_retrieve(subscription_id: str) -> Any:
    """The subscription as Stripe has it now, with its items' prices."""
    with stripe_call("subscription.retrieve"):
        return stripe.Subscription.retrieve(
            subscription_id, expand=SUBSCRIPTION_EXPAND, **request_options()
        )


def customer_retrieve(customer_id: str) -> Any:
    """The customer as Stripe has it now (`deleted: true` once deleted)."""
    with stripe_call("customer.retrieve"):
        return stripe.Customer.retrieve(customer_id, **request_options())


def invoice_retrieve(invoice_id: str) -> Any:
    """The invoice as Stripe has it now."""
    with stripe_call("invoice.retrieve"):
        return stripe.Invoice.retrieve(invoice_id, **request_options())


def price_retrieve(price_id: str) -> Any:
    """The price as Stripe has it now."""
    with stripe_call("price.retrieve"):
        return stripe.Price.retrieve(price_id, **request_options())


def product_retrieve(product_id: str) -> Any:
    """The product as Stripe has it now."""
    with stripe_call("product.retrieve"):
        return stripe.Product.retrieve(product_id, **request_options())


def events_created_since(created_gte: int) -> Iterator[Any]:
    """Every event Stripe still lists that was created at or after `created_gte` (unix time).

    Pages are fetched as the iteration reaches them; their errors are translated too.
    """
    with stripe_call("event.list"):
        page = stripe.Event.list(created={"gte": created_gte}, limit=100, **request_options())
        yield from page.auto_paging_iter()


# --- Writes (POST, each with an idempotency key) --------------------------------------------


def customer_create(*, user_id: str, email: str, name: str | None, key: str) -> Any:
    """A Stripe customer for a user, its metadata linking it back (`user_id`)."""
    params: dict[str, Any] = {"metadata": {settings.DJSTRIPE_SUBSCRIBER_CUSTOMER_KEY: user_id}}
    if email:
        params["email"] = email
    if name:
        params["name"] = name
    with stripe_call("customer.create"):
        return stripe.Customer.create(**params, idempotency_key=key, **request_options())


def checkout_session_create(
    *,
    customer_id: str,
    user_id: str,
    price_id: str,
    success_url: str,
    cancel_url: str,
    key: str,
) -> Any:
    """A Checkout Session subscribing the customer to one price."""
    with stripe_call("checkout.session.create"):
        return stripe.checkout.Session.create(
            mode="subscription",
            customer=customer_id,
            client_reference_id=user_id,
            line_items=[{"price": price_id, "quantity": 1}],
            success_url=success_url,
            cancel_url=cancel_url,
            metadata={"user_id": user_id},
            subscription_data={"metadata": {"user_id": user_id}},
            idempotency_key=key,
            **request_options(),
        )


def billing_portal_session_create(*, customer_id: str, return_url: str | None, key: str) -> Any:
    """A Customer Portal session for the customer."""
    params: dict[str, Any] = {"customer": customer_id}
    if return_url:
        params["return_url"] = return_url
    with stripe_call("billing_portal.session.create"):
        return stripe.billing_portal.Session.create(
            **params, idempotency_key=key, **request_options()
        )


def subscription_set_cancel_at_period_end(*, subscription_id: str, cancel: bool, key: str) -> Any:
    """Turn renewal off (`cancel`) or back on; returns the updated subscription."""
    with stripe_call("subscription.update"):
        return stripe.Subscription.modify(
            subscription_id,
            cancel_at_period_end=cancel,
            expand=SUBSCRIPTION_EXPAND,
            idempotency_key=key,
            **request_options(),
        )


def subscription_cancel_now(*, subscription_id: str) -> Any:
    """End the subscription now (a DELETE: idempotent by nature); returns it canceled."""
    with stripe_call("subscription.cancel"):
        return stripe.Subscription.cancel(
            subscription_id, expand=SUBSCRIPTION_EXPAND, **request_options()
        )
