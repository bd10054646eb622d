"""Stripe billing: dj-stripe's models kept in sync, and the user's entitlement derived from them.

Order never matters. Events arrive duplicated and out of order, so handlers do not trust the
copy of the object an event carries: they read the object back from Stripe's API and store
that (`stripe_subscription_refresh` and friends). Reads of one Stripe object are serialised (a
transaction-scoped PostgreSQL advisory lock per object id, taken before the read), and the
entitlement remembers the time of the read it reflects (`source_updated_at`): a later read
always wins, an earlier one that finishes last is ignored by `entitlement_upsert`.

Subscription → entitlement (source `stripe`, external id = the subscription id):
- plan: `pro` for the configured prices (STRIPE_PRICE_ID_MONTHLY / _YEARLY); otherwise the plan
  named by the price's or its product's metadata `plan` (`pro` or `enterprise`). With several
  items the best plan wins. A subscription with no such price grants nothing (an existing
  entitlement for it is marked `expired`).
- status: trialing, active and past_due as they are (past_due: Stripe is still retrying the
  payment); canceled → canceled; unpaid and incomplete_expired → expired; incomplete (first
  payment not made yet) and paused (trial ended without a payment method) → expired, since
  neither grants access, and the update that activates them replaces it.
- current_period_end: the subscription's, or (API versions since 2025-03-31) the latest of its
  items'; cancel_at_period_end: renewal is off (`cancel_at_period_end`, or a `cancel_at` date).

A customer is tied to its user by the metadata key `user_id` (dj-stripe's `Customer.subscriber`,
set when the customer is synced); checkout creates customers with it and also sends the user id
as `client_reference_id`.

Longer than most modules (two halves: the sync of Stripe's objects into entitlements, then the
customer's actions: checkout, portal, cancel, resume), because every payment source keeps its
writes in one `services.py`, the same name in each source.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from djstripe.models import Customer, Invoice, Price, Product, Subscription

from accounts.models import User
from billing.models import Entitlement
from billing.selectors import PLAN_ORDER, has_paid_purchase
from billing.services import entitlement_upsert
from billing.stripe import client as gateway
from billing.stripe.selectors import stripe_customer_get, stripe_entitlement_current
from config.errors import BadRequestError, ExternalServiceError, ServiceUnavailableError
from config.errors import ValidationError as AppValidationError

logger = logging.getLogger(__name__)

PROVIDER = "stripe"

STATUS_MAP = {
    "trialing": Entitlement.Status.TRIALING,
    "active": Entitlement.Status.ACTIVE,
    "past_due": Entitlement.Status.PAST_DUE,
    "canceled": Entitlement.Status.CANCELED,
    "unpaid": Entitlement.Status.EXPIRED,
    "incomplete_expired": Entitlement.Status.EXPIRED,
    "incomplete": Entitlement.Status.EXPIRED,
    "paused": Entitlement.Status.EXPIRED,
}

# Time windows in which a repeated request without an Idempotency-Key counts as a retry.
CHECKOUT_RETRY_WINDOW_SECONDS = 3600
PORTAL_RETRY_WINDOW_SECONDS = 60

ModelT = TypeVar("ModelT")


@dataclass(frozen=True)
class CheckoutSession:
    """A Stripe Checkout Session to send the user to."""

    session_id: str
    url: str


def _field(data: Any, key: str, default: Any = None) -> Any:
    """`data[key]` of a Stripe object or dict, `default` when absent or null."""
    value = data.get(key) if data is not None else None
    return default if value is None else value


def _id_of(value: Any) -> str | None:
    """The id of an expanded object or the id itself."""
    if value is None or isinstance(value, str):
        return value
    return str(_field(value, "id")) if _field(value, "id") else None


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _lock_stripe_object(object_id: str) -> None:
    """Serialise work on one Stripe object until the current transaction ends.

    A transaction-scoped advisory lock on PostgreSQL. SQLite (development, tests) runs one
    writer at a time and has no such lock; there it is a no-op.
    """
    connection = transaction.get_connection()
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"stripe:{object_id}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, signed=True)])


def _sync(model: type[ModelT], data: Any, *, action: str) -> ModelT:
    """Store a Stripe object in dj-stripe's model (which may fetch related objects it lacks)."""
    with gateway.stripe_call(action):
        instance: ModelT = model.sync_from_stripe_data(  # type: ignore[attr-defined]
            data, api_key=settings.STRIPE_SECRET_KEY
        )
    return instance


def _is_missing(error: ExternalServiceError) -> bool:
    return error.details.get("stripe_code") == "resource_missing"


# --- Subscriptions and entitlements ----------------------------------------------------------


def _plan_of(data: Any) -> tuple[str | None, str]:
    """(plan, price id) of a subscription's best item; plan None when no item maps to one."""
    configured = {settings.STRIPE_PRICE_ID_MONTHLY, settings.STRIPE_PRICE_ID_YEARLY} - {""}
    price_ids = [
        price_id
        for item in _field(_field(data, "items"), "data", [])
        if (price_id := _id_of(_field(item, "price")))
    ]
    prices = {price.id: price for price in Price.objects.filter(id__in=price_ids)}
    products = {
        product.id: product
        for product in Product.objects.filter(
            id__in=[price.product_id for price in prices.values() if price.product_id]
        )
    }
    best: tuple[str | None, str] = (None, price_ids[0] if price_ids else "")
    for price_id in price_ids:
        plan: str | None = Entitlement.Plan.PRO if price_id in configured else None
        price = prices.get(price_id)
        if plan is None and price is not None:
            product = products.get(price.product_id) if price.product_id else None
            for metadata in (price.metadata, product.metadata if product else None):
                named = (metadata or {}).get("plan")
                if named in (Entitlement.Plan.PRO, Entitlement.Plan.ENTERPRISE):
                    plan = named
                    break
        if plan is not None and (best[0] is None or PLAN_ORDER[plan] > PLAN_ORDER[best[0]]):
            best = (plan, price_id)
    return best


def _period_end(data: Any) -> datetime | None:
    ends = [_field(data, "current_period_end")] + [
        _field(item, "current_period_end") for item in _field(_field(data, "items"), "data", [])
    ]
    known = [int(end) for end in ends if end]
    return _timestamp(max(known)) if known else None


def stripe_subscription_sync(*, data: Any, read_at: datetime) -> Entitlement | None:
    """Store a subscription as Stripe returned it at `read_at`, and update its entitlement.

    dj-stripe's rows (subscription, items, prices, products, customer) are written; then the
    user's entitlement follows the mapping in the module doc, with `source_updated_at = read_at`
    so an older read never overwrites a newer one. Returns the entitlement, or None when the
    customer belongs to no user or the subscription buys no plan.
    """
    with transaction.atomic():
        subscription = _sync(Subscription, data, action="subscription.sync")
        customer = subscription.customer
        user = customer.subscriber if customer is not None else None
        subscription_id = str(_field(data, "id"))
        if user is None:
            logger.warning(
                "stripe subscription of a customer without a user",
                extra={"subscription": subscription_id, "customer": getattr(customer, "id", "")},
            )
            return None
        plan, product_id = _plan_of(data)
        status = STATUS_MAP.get(str(_field(data, "status")), Entitlement.Status.EXPIRED)
        if plan is None:
            existing = Entitlement.objects.filter(
                source=Entitlement.Source.STRIPE, external_id=subscription_id
            ).first()
            if existing is None:
                logger.warning(
                    "stripe subscription without a known plan",
                    extra={"subscription": subscription_id, "price": product_id},
                )
                return None
            plan, status = existing.plan, Entitlement.Status.EXPIRED
        return entitlement_upsert(
            user=user,
            source=Entitlement.Source.STRIPE,
            external_id=subscription_id,
            product_id=product_id,
            plan=plan,
            status=status,
            current_period_end=_period_end(data),
            cancel_at_period_end=bool(
                _field(data, "cancel_at_period_end", False) or _field(data, "cancel_at")
            ),
            source_updated_at=read_at,
        )


def stripe_subscription_refresh(*, subscription_id: str) -> Entitlement | None:
    """Read a subscription back from Stripe and store it (see `stripe_subscription_sync`)."""
    with transaction.atomic():
        _lock_stripe_object(subscription_id)
        read_at = timezone.now()
        data = gateway.subscription_retrieve(subscription_id)
        return stripe_subscription_sync(data=data, read_at=read_at)


def _refresh(
    object_id: str,
    retrieve: Callable[[str], Any],
    model: type[Any],
    *,
    on_missing: Callable[[str], None] | None = None,
) -> None:
    """Read an object back from Stripe and store it; a deleted one is left to `on_missing`."""
    with transaction.atomic():
        _lock_stripe_object(object_id)
        try:
            data = retrieve(object_id)
        except ExternalServiceError as error:
            if not _is_missing(error):
                raise
            logger.info("stripe object %s no longer exists", object_id)
            if on_missing is not None:
                on_missing(object_id)
            return
        _sync(model, data, action=f"{model.__name__.lower()}.sync")


def stripe_customer_refresh(*, customer_id: str) -> None:
    """Read a customer back from Stripe and store it (its `user_id` metadata links the user)."""
    _refresh(customer_id, gateway.customer_retrieve, Customer)


def stripe_invoice_refresh(*, invoice_id: str) -> None:
    """Read an invoice back from Stripe and store it; a deleted draft is removed."""

    def forget(missing_id: str) -> None:
        Invoice.objects.filter(id=missing_id).delete()

    _refresh(invoice_id, gateway.invoice_retrieve, Invoice, on_missing=forget)


def stripe_price_refresh(*, price_id: str) -> None:
    """Read a price back from Stripe and store it (with its product)."""
    _refresh(price_id, gateway.price_retrieve, Price)


def stripe_product_refresh(*, product_id: str) -> None:
    """Read a product back from Stripe and store it."""
    _refresh(product_id, gateway.product_retrieve, Product)


def stripe_checkout_completed(
    *, customer_id: str | None, subscription_id: str | None, user_id: str | None
) -> Entitlement | None:
    """A Checkout Session finished: tie its customer to the user it was opened for, then
    store the subscription it created.

    `user_id` is the session's `client_reference_id`, which only this server sets; a customer
    already tied to a user keeps that user.
    """
    if customer_id:
        with transaction.atomic():
            stripe_customer_refresh(customer_id=customer_id)
            user = User.objects.filter(pk=user_id).first() if user_id else None
            if user is not None:
                Customer.objects.filter(id=customer_id, subscriber__isnull=True).update(
                    subscriber=user
                )
    if subscription_id:
        return stripe_subscription_refresh(subscription_id=subscription_id)
    return None


# --- Customers, checkout, portal, cancel, resume -------------------------------------------


def _allowed_origins() -> set[str]:
    return {
        _origin(origin)
        for origin in [*settings.CORS_ALLOWED_ORIGINS, *settings.BILLING_REDIRECT_ORIGINS]
        if origin
    }


def _origin(url: str) -> str:
    parts = urlsplit(url)
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    try:
        port = parts.port
    except ValueError:
        return ""
    host = (parts.hostname or "").lower()
    suffix = f":{port}" if port is not None and port != default_port else ""
    return f"{parts.scheme.lower()}://{host}{suffix}"


def redirect_url_allowed(url: str) -> bool:
    """True for an absolute http(s) URL on an allowed origin (CORS_ALLOWED_ORIGINS or
    BILLING_REDIRECT_ORIGINS), without credentials, backslashes or control characters."""
    if any(char == "\\" or ord(char) < 33 for char in url):
        return False
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.username is not None or parts.password is not None:
        return False
    origin = _origin(url)
    return bool(origin) and origin in _allowed_origins()


def _check_redirects(urls: dict[str, str | None]) -> None:
    errors = [
        {
            "field": field,
            "message": "Must be a URL on one of the app's allowed origins.",
            "code": "origin_not_allowed",
        }
        for field, url in urls.items()
        if url is not None and not redirect_url_allowed(url)
    ]
    if errors:
        raise AppValidationError(errors)


def stripe_customer_get_or_create(*, user: User) -> Customer:
    """The user's Stripe customer, created (once) when the user has none.

    Concurrent first calls send the same idempotency key, so Stripe creates one customer.
    """
    gateway.require_configured()
    customer = stripe_customer_get(user=user)
    if customer is not None and not customer.deleted:
        return customer
    key = gateway.idempotency_key(
        user_id=user.pk, action="customer.create", parts=[customer.id if customer else ""]
    )
    # An email the identity provider does not vouch for is not given to Stripe (it would mail it).
    data = gateway.customer_create(
        user_id=user.pk, email=user.deliverable_email, name=user.full_name, key=key
    )
    with transaction.atomic():
        created = _sync(Customer, data, action="customer.sync")
        if created.subscriber_id != user.pk:
            created.subscriber = user
            created.save(update_fields=["subscriber", "djstripe_updated"])
    logger.info("stripe customer ready", extra={"user_id": user.pk, "customer": created.id})
    return created


def stripe_checkout_start(
    *,
    user: User,
    interval: str,
    success_url: str,
    cancel_url: str,
    client_key: str | None = None,
) -> CheckoutSession:
    """Open a Checkout Session for the pro plan at `interval` (monthly or yearly).

    503 when Stripe or that price is not configured; 422 for redirect URLs off the allowed
    origins; 400 when the user already has a paid subscription from a store (a manual grant
    does not count).
    """
    gateway.require_configured()
    price_id = {
        "monthly": settings.STRIPE_PRICE_ID_MONTHLY,
        "yearly": settings.STRIPE_PRICE_ID_YEARLY,
    }.get(interval, "")
    if not price_id:
        raise ServiceUnavailableError(
            f"The {interval} plan is not for sale", details={"service": gateway.SERVICE}
        )
    _check_redirects({"success_url": success_url, "cancel_url": cancel_url})
    if has_paid_purchase(user=user):
        raise BadRequestError(
            "You already have an active subscription", details={"reason": "already_subscribed"}
        )
    customer = stripe_customer_get_or_create(user=user)
    stripe_purchases = Entitlement.objects.filter(
        user=user, source=Entitlement.Source.STRIPE
    ).count()
    key = gateway.idempotency_key(
        user_id=user.pk,
        action="checkout.session.create",
        parts=[
            price_id,
            success_url,
            cancel_url,
            customer.id,
            stripe_purchases,
            int(time.time()) // CHECKOUT_RETRY_WINDOW_SECONDS,
        ],
        client_key=client_key,
    )
    session = gateway.checkout_session_create(
        customer_id=customer.id,
        user_id=user.pk,
        price_id=price_id,
        success_url=success_url,
        cancel_url=cancel_url,
        key=key,
    )
    logger.info("stripe checkout opened", extra={"user_id": user.pk, "price": price_id})
    return CheckoutSession(session_id=str(session["id"]), url=str(session["url"]))


def stripe_portal_open(*, user: User, return_url: str | None, client_key: str | None = None) -> str:
    """The URL of a Customer Portal session; 400 when the user has no Stripe customer."""
    gateway.require_configured()
    _check_redirects({"return_url": return_url})
    customer = stripe_customer_get(user=user)
    if customer is None or customer.deleted:
        raise BadRequestError("You have no billing account yet", details={"reason": "no_customer"})
    key = gateway.idempotency_key(
        user_id=user.pk,
        action="billing_portal.session.create",
        parts=[customer.id, return_url or "", int(time.time()) // PORTAL_RETRY_WINDOW_SECONDS],
        client_key=client_key,
    )
    session = gateway.billing_portal_session_create(
        customer_id=customer.id, return_url=return_url, key=key
    )
    return str(session["url"])


def _subscription_version(subscription_id: str) -> str:
    """The stored state's version: the time dj-stripe last wrote the subscription."""
    updated = (
        Subscription.objects.filter(id=subscription_id)
        .values_list("djstripe_updated", flat=True)
        .first()
    )
    return updated.isoformat() if updated else ""


def _current_subscription(user: User) -> Entitlement:
    entitlement = stripe_entitlement_current(user=user)
    if entitlement is None:
        raise BadRequestError(
            "You have no active Stripe subscription", details={"reason": "no_subscription"}
        )
    return entitlement


def _stored(entitlement: Entitlement | None, subscription_id: str) -> Entitlement:
    if entitlement is None:  # the subscription no longer maps to the user or a plan
        raise BadRequestError(
            "The subscription could not be updated", details={"subscription": subscription_id}
        )
    return entitlement


def _set_cancel_at_period_end(
    *, user: User, subscription_id: str, cancel: bool, client_key: str | None
) -> Any:
    """Turn the subscription's renewal off (`cancel`) or back on at Stripe, once per version of
    the subscription (or per client key); returns Stripe's subscription."""
    key = gateway.idempotency_key(
        user_id=user.pk,
        action="subscription.cancel_at_period_end" if cancel else "subscription.resume",
        parts=[subscription_id, _subscription_version(subscription_id)],
        client_key=client_key,
    )
    return gateway.subscription_set_cancel_at_period_end(
        subscription_id=subscription_id, cancel=cancel, key=key
    )


def stripe_subscription_cancel(
    *, user: User, immediate: bool, client_key: str | None = None
) -> Entitlement:
    """Cancel the user's Stripe subscription now (`immediate`) or at its period end.

    Returns the entitlement as Stripe's answer leaves it; 400 without an active subscription.
    """
    gateway.require_configured()
    subscription_id = _current_subscription(user).external_id
    with transaction.atomic():
        _lock_stripe_object(subscription_id)
        read_at = timezone.now()
        if immediate:
            data = gateway.subscription_cancel_now(subscription_id=subscription_id)
        else:
            data = _set_cancel_at_period_end(
                user=user, subscription_id=subscription_id, cancel=True, client_key=client_key
            )
        entitlement = stripe_subscription_sync(data=data, read_at=read_at)
    logger.info(
        "stripe subscription canceled",
        extra={"user_id": user.pk, "subscription": subscription_id, "immediate": immediate},
    )
    return _stored(entitlement, subscription_id)


def stripe_subscription_resume(*, user: User, client_key: str | None = None) -> Entitlement:
    """Turn renewal back on for a subscription set to end at its period end.

    400 when the user has no active Stripe subscription, or it is not set to end.
    """
    gateway.require_configured()
    current = _current_subscription(user)
    if not current.cancel_at_period_end:
        raise BadRequestError(
            "Your subscription is not set to end", details={"reason": "not_canceling"}
        )
    subscription_id = current.external_id
    with transaction.atomic():
        _lock_stripe_object(subscription_id)
        read_at = timezone.now()
        data = _set_cancel_at_period_end(
            user=user, subscription_id=subscription_id, cancel=False, client_key=client_key
        )
        entitlement = stripe_subscription_sync(data=data, read_at=read_at)
    logger.info(
        "stripe subscription resumed", extra={"user_id": user.pk, "subscription": subscription_id}
    )
    return _stored(entitlement, subscription_id)
