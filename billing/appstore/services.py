"""App Store purchases as entitlements: linking a StoreKit 2 transaction, applying notifications.

One entitlement per purchase: source `apple`, external id = the `originalTransactionId` (the
same for every renewal of a subscription), product id and plan (`billing.iap.plan_for_product`)
from the transaction, `current_period_end` = its `expiresDate`.

Product types
- Auto-Renewable Subscription: as above.
- Non-Consumable: a lifetime unlock. Active with no end, canceled when refunded or revoked.
- Consumable and Non-Renewing Subscription: not subscriptions this backend can follow (the App
  Store reports no end for a non-renewing one): linking them is 400, notifications about them
  change nothing.

Linking (`apple_transaction_link`, POST /billing/iap/apple): the app sends the signed
transaction; its status is `canceled` when revoked, `expired` once `expiresDate` has passed,
otherwise `active`. The transaction's `appAccountToken`, when it names another existing user,
is a conflict (409), as is a purchase already linked to another user.

Notifications (`apple_notification_apply`, from the webhook ledger): the notification type and
subtype decide the status (see `NOTIFICATION_STATUS`); `cancel_at_period_end` is
`autoRenewStatus == 0` of the renewal info when there is one. Types without subscription state
(`STATELESS_TYPES`, TEST included) have no handler and end `ignored`. The notification's
`signedDate` orders the updates: `entitlement_upsert` ignores one older than what the
entitlement already reflects, so notifications delivered out of order end in the right state.
The user is the one the purchase is linked to, else the user whose id equals the
`appAccountToken` (ignoring case); without either, the notification changes nothing (it stays in
the ledger, and staff can replay it once the app has linked the purchase).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone

from accounts.models import User
from billing.appstore.client import apple_time, verify_transaction
from billing.iap import plan_for_product
from billing.models import Entitlement
from billing.services import entitlement_upsert
from config.errors import BadRequestError, ConflictError

logger = logging.getLogger(__name__)

SOURCE = Entitlement.Source.APPLE.value
Status = Entitlement.Status

AUTO_RENEWABLE = "Auto-Renewable Subscription"
NON_CONSUMABLE = "Non-Consumable"
CONSUMABLE = "Consumable"
NON_RENEWING = "Non-Renewing Subscription"
SUPPORTED_PRODUCT_TYPES = frozenset({AUTO_RENEWABLE, NON_CONSUMABLE})

# autoRenewStatus: 1 renews at the period end, 0 does not.
AUTO_RENEW_OFF = 0

GRACE_PERIOD = "GRACE_PERIOD"

# The status each notification type sets. None: derived from the transaction and renewal info
# (`transaction_status`), for the types that only change the renewal preference.
NOTIFICATION_STATUS: dict[str, str | None] = {
    "SUBSCRIBED": Status.ACTIVE,
    "DID_RENEW": Status.ACTIVE,
    "OFFER_REDEEMED": Status.ACTIVE,
    "RENEWAL_EXTENDED": Status.ACTIVE,
    "REFUND_REVERSED": Status.ACTIVE,
    # GRACE_PERIOD subtype: `grace` until gracePeriodExpiresDate; otherwise billing retry.
    "DID_FAIL_TO_RENEW": Status.PAST_DUE,
    "EXPIRED": Status.EXPIRED,
    "GRACE_PERIOD_EXPIRED": Status.EXPIRED,
    "REFUND": Status.CANCELED,
    "REVOKE": Status.CANCELED,
    "DID_CHANGE_RENEWAL_STATUS": None,
    "DID_CHANGE_RENEWAL_PREF": None,
}

# Notification types that carry no subscription state to apply (TEST is Apple's connectivity
# check; RENEWAL_EXTENSION is the summary of a mass extension, each subscription also gets its
# own RENEWAL_EXTENDED).
STATELESS_TYPES = frozenset(
    {
        "TEST",
        "CONSUMPTION_REQUEST",
        "REFUND_DECLINED",
        "PRICE_INCREASE",
        "PRICE_CHANGE",
        "RENEWAL_EXTENSION",
        "METADATA_UPDATE",
        "MIGRATION",
        "ONE_TIME_CHARGE",
        "EXTERNAL_PURCHASE_TOKEN",
        "RESCIND_CONSENT",
    }
)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def transaction_status(
    *,
    transaction: Mapping[str, Any],
    renewal: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> tuple[str, datetime | None]:
    """The (status, current_period_end) a transaction shows at `now`.

    Revoked (refunded, or removed from Family Sharing): canceled. No `expiresDate` (a
    non-consumable): active without end. Not yet expired: active. Expired: in the grace period
    (`grace` until it ends) or in billing retry (`past_due`) per the renewal info, else expired.
    """
    now = now or timezone.now()
    expires = apple_time(transaction.get("expiresDate"))
    if transaction.get("revocationDate") is not None:
        return Status.CANCELED, expires
    if expires is None or expires > now:
        return Status.ACTIVE, expires
    renewal = renewal or {}
    grace_ends = apple_time(renewal.get("gracePeriodExpiresDate"))
    if grace_ends is not None and grace_ends > now:
        return Status.GRACE, grace_ends
    if renewal.get("isInBillingRetryPeriod") is True:
        return Status.PAST_DUE, expires
    return Status.EXPIRED, expires


def _token_owner(token: str | None) -> User | None:
    """The user whose id is the appAccountToken (a UUID) as written, lower- or upper-case.

    Swift prints UUIDs upper-case, identity providers store them lower-case; an `IN` on the
    primary key keeps the lookup on its index.
    """
    if token is None:
        return None
    return User.objects.filter(pk__in={token, token.lower(), token.upper()}).first()


def _owner(*, original_transaction_id: str, tokens: list[str | None]) -> User | None:
    linked = (
        Entitlement.objects.filter(source=SOURCE, external_id=original_transaction_id)
        .select_related("user")
        .first()
    )
    if linked is not None:
        return linked.user
    for token in tokens:
        user = _token_owner(token)
        if user is not None:
            return user
    return None


def _upsert_purchase(
    *,
    user: User,
    original_transaction_id: str,
    product_id: str,
    state: tuple[str, datetime | None],
    cancel_at_period_end: bool,
    signed_at: Any,
) -> Entitlement:
    """The purchase's one entitlement, ordered by the signed data's `signedDate`."""
    status, period_end = state
    return entitlement_upsert(
        user=user,
        source=SOURCE,
        external_id=original_transaction_id,
        product_id=product_id,
        plan=plan_for_product(product_id),
        status=status,
        current_period_end=period_end,
        cancel_at_period_end=cancel_at_period_end,
        source_updated_at=apple_time(signed_at),
    )


def apple_transaction_link(*, user: User, signed_transaction: str) -> Entitlement:
    """Verify a StoreKit 2 signed transaction and link its purchase to `user`.

    400 for data that does not verify, a consumable or non-renewing product, or a transaction
    without ids; 409 when the purchase belongs to another user (already linked, or bought with
    another user's id as appAccountToken); 503 when the App Store is not configured.
    """
    transaction = verify_transaction(signed_transaction)
    product_type = transaction.get("type")
    if product_type not in SUPPORTED_PRODUCT_TYPES:
        raise BadRequestError(
            "Only auto-renewable subscriptions and non-consumables can be linked",
            details={"type": product_type if isinstance(product_type, str) else None},
        )
    original_transaction_id = _text(transaction.get("originalTransactionId"))
    product_id = _text(transaction.get("productId"))
    if original_transaction_id is None or product_id is None:
        raise BadRequestError(
            "The transaction has no originalTransactionId or productId",
            details={"reason": "malformed"},
        )
    owner = _token_owner(_text(transaction.get("appAccountToken")))
    if owner is not None and owner.pk != user.pk:
        raise ConflictError(
            "This purchase was made for another account",
            details={"resource": "Entitlement", "source": SOURCE},
        )
    status, period_end = transaction_status(transaction=transaction)
    # A signed transaction says nothing about renewal: keep what notifications reported.
    existing = Entitlement.objects.filter(source=SOURCE, external_id=original_transaction_id)
    cancel_at_period_end = existing.filter(cancel_at_period_end=True).exists()
    try:
        entitlement = _upsert_purchase(
            user=user,
            original_transaction_id=original_transaction_id,
            product_id=product_id,
            state=(status, period_end),
            cancel_at_period_end=cancel_at_period_end,
            signed_at=transaction.get("signedDate"),
        )
    except DjangoValidationError:
        raise BadRequestError(
            "The transaction carries values that cannot be stored",
            details={"reason": "malformed"},
        ) from None
    logger.info(
        "App Store purchase linked",
        extra={"user_id": user.pk, "entitlement": entitlement.pk, "status": entitlement.status},
    )
    return entitlement


def _notification_state(
    *,
    notification_type: str,
    subtype: str | None,
    transaction: Mapping[str, Any],
    renewal: Mapping[str, Any],
) -> tuple[str, datetime | None]:
    status = NOTIFICATION_STATUS[notification_type]
    expires = apple_time(transaction.get("expiresDate"))
    if status is None:
        return transaction_status(transaction=transaction, renewal=renewal)
    if notification_type == "DID_FAIL_TO_RENEW" and subtype == GRACE_PERIOD:
        return Status.GRACE, apple_time(renewal.get("gracePeriodExpiresDate")) or expires
    return status, expires


def apple_notification_apply(*, notification: Mapping[str, Any]) -> Entitlement | None:
    """Apply a verified notification (as `billing.appstore.client.verify_notification` decodes it).

    Returns the entitlement it updated, or None when it changes nothing: a type without
    subscription state, no transaction, a product that is not followed, or no known user.
    Never raises for such permanent conditions (that would retry forever).
    """
    notification_type = notification.get("notificationType")
    subtype = _text(notification.get("subtype"))
    uuid = notification.get("notificationUUID")
    if not isinstance(notification_type, str) or notification_type not in NOTIFICATION_STATUS:
        logger.info("App Store notification without state: %s %s", notification_type, uuid)
        return None
    data = _dict(notification.get("data"))
    transaction = _dict(data.get("transactionInfo"))
    renewal = _dict(data.get("renewalInfo"))
    original_transaction_id = _text(transaction.get("originalTransactionId"))
    product_id = _text(transaction.get("productId"))
    if original_transaction_id is None or product_id is None:
        logger.info("App Store notification without a transaction: %s %s", notification_type, uuid)
        return None
    if transaction.get("type") not in SUPPORTED_PRODUCT_TYPES:
        logger.info(
            "App Store notification about a %s: nothing to change (%s)",
            transaction.get("type"),
            uuid,
        )
        return None
    user = _owner(
        original_transaction_id=original_transaction_id,
        tokens=[
            _text(transaction.get("appAccountToken")),
            _text(renewal.get("appAccountToken")),
        ],
    )
    if user is None:
        logger.info(
            "App Store notification for a purchase linked to no user: %s %s "
            "(replay it once the app has linked the purchase)",
            notification_type,
            uuid,
        )
        return None
    status, period_end = _notification_state(
        notification_type=notification_type,
        subtype=subtype,
        transaction=transaction,
        renewal=renewal,
    )
    try:
        return _upsert_purchase(
            user=user,
            original_transaction_id=original_transaction_id,
            product_id=product_id,
            state=(status, period_end),
            cancel_at_period_end=renewal.get("autoRenewStatus") == AUTO_RENEW_OFF,
            signed_at=notification.get("signedDate"),
        )
    except DjangoValidationError as error:
        # Values no entitlement can hold (an over-long product id): retrying cannot help.
        logger.warning("App Store notification %s cannot be stored: %s", uuid, error)
        return None
