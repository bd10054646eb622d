"""Google Play subscriptions as entitlements: read the purchase from Play, store what it grants.

A notification or a client's link request only says which purchase token to look at; the
purchase itself is always read from the Play Developer API (`purchases.subscriptionsv2.get`),
so an old, duplicated or reordered notification cannot store a stale state. The entitlement is
keyed by the purchase token (source `google`) and stamped with the time the purchase was read:
`entitlement_upsert` ignores an update read earlier than the one stored.

Subscription state → entitlement status (and whether it grants access):

- ACTIVE → active (yes).
- IN_GRACE_PERIOD → grace (yes: Play is retrying the payment and the user keeps access).
- CANCELED → active with `cancel_at_period_end` (yes, until the expiry time).
- ON_HOLD → expired (no: Play takes access away during account hold; when the payment
  recovers, the recovery notification makes it active again).
- PAUSED → expired (no, until the pause ends and the subscription renews).
- EXPIRED → expired (no).
- PENDING, PENDING_PURCHASE_CANCELED → nothing stored (no: nothing is paid; an entitlement
  that already exists for the token becomes expired).

`current_period_end` is the latest `expiryTime` of the line items, the plan the highest that
their product ids map to (`billing.iap.plan_for_product`), and `cancel_at_period_end` is true
when auto-renewal is off.

Who owns a purchase: the user its entitlement already belongs to; else, for a purchase that
replaces another (`linkedPurchaseToken`: upgrade, downgrade, resubscription), the owner of the
replaced one; else the user whose id the app passed as `obfuscatedAccountId` when it launched
the purchase. A notification for a purchase with no known owner changes nothing (the app links
it with POST /billing/iap/google; staff can then replay the notification). A replaced purchase's
entitlement is marked expired.

Purchases that grant access and are not yet acknowledged are acknowledged (Play refunds those
left unacknowledged for three days), in the same transaction as the entitlement write: when
acknowledging fails, the write is undone and the whole operation is retried.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing.googleplay import client as play
from billing.iap import plan_for_product
from billing.models import Entitlement
from billing.selectors import PLAN_ORDER
from billing.services import entitlement_upsert
from config.errors import BadRequestError, ConflictError, ExternalServiceError

logger = logging.getLogger(__name__)

PROVIDER = "google"
SOURCE = Entitlement.Source.GOOGLE
PURCHASE_TOKEN_MAX_LENGTH = 512  # Entitlement.external_id
PRODUCT_ID_MAX_LENGTH = 255  # Entitlement.product_id

STATE_ACTIVE = "SUBSCRIPTION_STATE_ACTIVE"
STATE_IN_GRACE_PERIOD = "SUBSCRIPTION_STATE_IN_GRACE_PERIOD"
STATE_CANCELED = "SUBSCRIPTION_STATE_CANCELED"
STATE_ON_HOLD = "SUBSCRIPTION_STATE_ON_HOLD"
STATE_PAUSED = "SUBSCRIPTION_STATE_PAUSED"
STATE_EXPIRED = "SUBSCRIPTION_STATE_EXPIRED"
STATE_PENDING = "SUBSCRIPTION_STATE_PENDING"
STATE_PENDING_PURCHASE_CANCELED = "SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED"

STATUS_BY_STATE: dict[str, str] = {
    STATE_ACTIVE: Entitlement.Status.ACTIVE,
    STATE_IN_GRACE_PERIOD: Entitlement.Status.GRACE,
    STATE_CANCELED: Entitlement.Status.ACTIVE,
    STATE_ON_HOLD: Entitlement.Status.EXPIRED,
    STATE_PAUSED: Entitlement.Status.EXPIRED,
    STATE_EXPIRED: Entitlement.Status.EXPIRED,
}
# States of a purchase that is not paid for (yet): nothing is granted.
UNPAID_STATES = frozenset({STATE_PENDING, STATE_PENDING_PURCHASE_CANCELED})
ACKNOWLEDGEMENT_PENDING = "ACKNOWLEDGEMENT_STATE_PENDING"


@dataclass(frozen=True)
class GooglePurchase:
    """The parts of a SubscriptionPurchaseV2 that decide the entitlement."""

    purchase_token: str
    state: str
    product_ids: tuple[str, ...]
    product_id: str
    plan: str
    expires_at: datetime | None
    auto_renewing: bool
    acknowledgement_pending: bool
    linked_purchase_token: str | None
    account_id: str | None
    read_at: datetime

    @property
    def status(self) -> str | None:
        """The entitlement status it maps to; None for a purchase that is not paid for."""
        return STATUS_BY_STATE.get(self.state)

    @property
    def cancel_at_period_end(self) -> bool:
        """Renewal is off (canceled by the user, or a prepaid plan)."""
        return self.state == STATE_CANCELED or not self.auto_renewing


def _unexpected(reason: str) -> ExternalServiceError:
    return ExternalServiceError(
        f"Google Play answered with an unexpected purchase: {reason}",
        details={"service": play.SERVICE, "reason": reason},
    )


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _unexpected("expiryTime") from None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def purchase_from_play(
    *, purchase_token: str, data: dict[str, Any], read_at: datetime
) -> GooglePurchase:
    """Parse Play's SubscriptionPurchaseV2; 502 for an answer the mapping cannot use."""
    state = data.get("subscriptionState")
    if not isinstance(state, str) or (state not in STATUS_BY_STATE and state not in UNPAID_STATES):
        raise _unexpected(f"subscriptionState {str(state)[:64]}")
    line_items = [item for item in data.get("lineItems") or [] if isinstance(item, dict)]
    product_ids = tuple(
        item["productId"]
        for item in line_items
        if isinstance(item.get("productId"), str)
        and 0 < len(item["productId"]) <= PRODUCT_ID_MAX_LENGTH
    )
    if not product_ids:
        raise _unexpected("lineItems")
    # The highest plan decides; among equal plans, the first line item.
    product_id = max(product_ids, key=lambda pid: PLAN_ORDER.get(plan_for_product(pid), 0))
    expiries = [moment for item in line_items if (moment := _timestamp(item.get("expiryTime")))]
    auto_renewing = any(
        isinstance(item.get("autoRenewingPlan"), dict)
        and item["autoRenewingPlan"].get("autoRenewEnabled") is True
        for item in line_items
    )
    identifiers = data.get("externalAccountIdentifiers")
    account_id = (
        _text(identifiers.get("obfuscatedExternalAccountId"))
        if isinstance(identifiers, dict)
        else None
    )
    linked = _text(data.get("linkedPurchaseToken"))
    return GooglePurchase(
        purchase_token=purchase_token,
        state=state,
        product_ids=product_ids,
        product_id=product_id,
        plan=plan_for_product(product_id),
        expires_at=max(expiries) if expiries else None,
        auto_renewing=auto_renewing,
        acknowledgement_pending=data.get("acknowledgementState") == ACKNOWLEDGEMENT_PENDING,
        linked_purchase_token=linked if linked and linked != purchase_token else None,
        account_id=account_id,
        read_at=read_at,
    )


def google_purchase_fetch(*, purchase_token: str) -> GooglePurchase:
    """Read a subscription purchase from Play now (400 when Play does not know the token)."""
    data = play.subscription_get(purchase_token)
    return purchase_from_play(purchase_token=purchase_token, data=data, read_at=timezone.now())


def _entitlement(purchase_token: str) -> Entitlement | None:
    return (
        Entitlement.objects.select_related("user")
        .filter(source=SOURCE, external_id=purchase_token)
        .first()
    )


def _owner(purchase: GooglePurchase) -> User | None:
    """Who a purchase belongs to (see the module), or None when nobody is known."""
    existing = _entitlement(purchase.purchase_token)
    if existing is not None:
        return existing.user
    if purchase.linked_purchase_token:
        replaced = _entitlement(purchase.linked_purchase_token)
        if replaced is not None:
            return replaced.user
    if purchase.account_id:
        return User.objects.filter(pk=purchase.account_id).first()
    return None


def _expire(entitlement: Entitlement, *, read_at: datetime) -> Entitlement:
    return entitlement_upsert(
        user=entitlement.user,
        source=SOURCE,
        external_id=entitlement.external_id,
        product_id=entitlement.product_id,
        plan=entitlement.plan,
        status=Entitlement.Status.EXPIRED,
        current_period_end=entitlement.current_period_end,
        cancel_at_period_end=entitlement.cancel_at_period_end,
        source_updated_at=read_at,
    )


def _apply_unpaid(purchase: GooglePurchase) -> Entitlement | None:
    """A purchase not paid for (any more): expire its entitlement, if it has one."""
    with transaction.atomic():
        existing = _entitlement(purchase.purchase_token)
        if existing is None:
            logger.info("google purchase not paid for yet: nothing granted")
            return None
        return _expire(existing, read_at=purchase.read_at)


def _apply(*, user: User, purchase: GooglePurchase, status: str) -> Entitlement:
    """Store what a paid purchase grants to `user`, retire the purchase it replaces, and
    acknowledge it."""
    with transaction.atomic():
        entitlement = entitlement_upsert(
            user=user,
            source=SOURCE,
            external_id=purchase.purchase_token,
            product_id=purchase.product_id,
            plan=purchase.plan,
            status=status,
            current_period_end=purchase.expires_at,
            cancel_at_period_end=purchase.cancel_at_period_end,
            source_updated_at=purchase.read_at,
        )
        if purchase.linked_purchase_token:
            replaced = _entitlement(purchase.linked_purchase_token)
            if replaced is not None and replaced.status in Entitlement.ENTITLED_STATUSES:
                _expire(replaced, read_at=purchase.read_at)
                logger.info(
                    "google purchase superseded",
                    extra={"user_id": replaced.user_id, "entitlement": replaced.pk},
                )
        if purchase.acknowledgement_pending and status in Entitlement.ENTITLED_STATUSES:
            play.subscription_acknowledge(
                purchase_token=purchase.purchase_token, subscription_id=purchase.product_id
            )
    return entitlement


def google_subscription_refresh(*, purchase_token: str) -> Entitlement | None:
    """Bring a purchase's entitlement up to date with Play (a notification's handler).

    Returns the entitlement, or None when nothing was stored: Play does not know the token
    (a permanent answer, logged), the purchase is not paid for, or no owner is known yet.
    Failures of Play (5xx, timeouts, no connection) raise, for the caller to retry.
    """
    try:
        purchase = google_purchase_fetch(purchase_token=purchase_token)
    except play.PurchaseTokenInvalidError as error:
        logger.warning(
            "google notification for a purchase Play does not know: %s",
            error.details.get("status"),
        )
        return None
    user = _owner(purchase)
    if user is None:
        logger.warning(
            "google purchase with no known owner: nothing granted until the app links it",
            extra={"state": purchase.state, "product_id": purchase.product_id},
        )
        return None
    if purchase.status is None:
        return _apply_unpaid(purchase)
    return _apply(user=user, purchase=purchase, status=purchase.status)


def google_purchase_link(*, user: User, purchase_token: str, subscription_id: str) -> Entitlement:
    """Verify a purchase with Play and link it to `user`; returns its entitlement.

    400 when Play does not know the token, the purchase is not of `subscription_id`, or it is
    not paid for yet (link it again once it is). 409 when the purchase belongs to another user
    (already linked, or bought from another account of this app). 502/504 when Play fails, 503
    when it is not configured.
    """
    play.require_configured()
    purchase = google_purchase_fetch(purchase_token=purchase_token)
    if subscription_id not in purchase.product_ids:
        raise BadRequestError(
            "The purchase is not a purchase of this subscription",
            details={"field": "subscription_id"},
        )
    status = purchase.status
    if status is None:
        raise BadRequestError(
            "The purchase is not paid for yet; link it again once it is",
            details={"reason": "pending"},
        )
    if (
        purchase.account_id
        and purchase.account_id != user.pk
        and User.objects.filter(pk=purchase.account_id).exists()
    ):
        raise ConflictError(
            "This purchase was made from another account",
            details={"resource": "Entitlement", "source": SOURCE},
        )
    return _apply(user=user, purchase=purchase, status=status)
