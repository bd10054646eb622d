"""App Store Server Notifications applied to entitlements, through the webhook and the ledger."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import cast

import jwt
import pytest
from appstoreserverlibrary.models.NotificationTypeV2 import NotificationTypeV2
from django.utils import timezone

from billing.appstore.services import NOTIFICATION_STATUS, STATELESS_TYPES
from billing.models import Entitlement
from tests.billing.appstore.conftest import STATUS_URL, deliver
from tests.billing.appstore.signing import (
    CONSUMABLE,
    ENTERPRISE_PRODUCT,
    NON_CONSUMABLE,
    PRODUCT,
    renewal_claims,
    transaction_claims,
)
from tests.billing.factories import EntitlementFactory
from tests.factories import UserFactory
from webhooks.models import WebhookEvent
from webhooks.services import webhook_replay

pytestmark = pytest.mark.django_db

OTID = "2000000100000001"


@pytest.fixture
def notify(api, apple, django_capture_on_commit_callbacks):
    """Deliver a signed notification and run its processing (the on-commit task) right away."""

    def send(signed: str) -> WebhookEvent:
        with django_capture_on_commit_callbacks(execute=True):
            response = deliver(api, signed)
        assert response.status_code == 200, response.content
        return WebhookEvent.objects.get(event_id=_uuid_of(signed))

    return send


def _uuid_of(signed: str) -> str:
    return str(jwt.decode(signed, options={"verify_signature": False})["notificationUUID"])


@pytest.fixture
def linked(user) -> Entitlement:
    """The user's App Store subscription, linked a while ago."""
    entitlement = EntitlementFactory(
        user=user,
        source="apple",
        external_id=OTID,
        product_id=PRODUCT,
        source_updated_at=timezone.now() - timedelta(days=2),
    )
    return cast(Entitlement, entitlement)


def moment(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def status_of(api, user) -> dict:
    response = api.as_user(user).get(STATUS_URL)
    assert response.status_code == 200
    body: dict = response.json()
    return body


# What each notification does: (type, subtype, transaction, renewal) → (status, period end from,
# cancel_at_period_end, the plan still granted).
MAPPINGS = [
    ("SUBSCRIBED", "INITIAL_BUY", {}, {}, "active", "expiresDate", False, True),
    ("SUBSCRIBED", "RESUBSCRIBE", {}, {}, "active", "expiresDate", False, True),
    ("DID_RENEW", None, {}, {}, "active", "expiresDate", False, True),
    ("DID_RENEW", "BILLING_RECOVERY", {}, {}, "active", "expiresDate", False, True),
    ("OFFER_REDEEMED", "UPGRADE", {}, {}, "active", "expiresDate", False, True),
    ("RENEWAL_EXTENDED", None, {}, {}, "active", "expiresDate", False, True),
    ("REFUND_REVERSED", None, {}, {}, "active", "expiresDate", False, True),
    (
        "DID_FAIL_TO_RENEW",
        "GRACE_PERIOD",
        {"expires": timedelta(hours=-1)},
        {"grace_ends": timedelta(days=6), "billing_retry": True},
        "grace",
        "gracePeriodExpiresDate",
        False,
        True,
    ),
    (
        "DID_FAIL_TO_RENEW",
        None,
        {"expires": timedelta(hours=-1)},
        {"billing_retry": True},
        "past_due",
        "expiresDate",
        False,
        True,
    ),
    (
        "EXPIRED",
        "VOLUNTARY",
        {"expires": timedelta(days=-2)},
        {"auto_renew": False},
        "expired",
        "expiresDate",
        True,
        False,
    ),
    (
        "EXPIRED",
        "BILLING_RETRY",
        {"expires": timedelta(days=-2)},
        {},
        "expired",
        "expiresDate",
        False,
        False,
    ),
    (
        "GRACE_PERIOD_EXPIRED",
        None,
        {"expires": timedelta(days=-2)},
        {},
        "expired",
        "expiresDate",
        False,
        False,
    ),
    ("REFUND", None, {"revoked": True}, {}, "canceled", "expiresDate", False, False),
    ("REVOKE", None, {"revoked": True}, {}, "canceled", "expiresDate", False, False),
    (
        "DID_CHANGE_RENEWAL_STATUS",
        "AUTO_RENEW_DISABLED",
        {},
        {"auto_renew": False},
        "active",
        "expiresDate",
        True,
        True,
    ),
    (
        "DID_CHANGE_RENEWAL_STATUS",
        "AUTO_RENEW_ENABLED",
        {},
        {"auto_renew": True},
        "active",
        "expiresDate",
        False,
        True,
    ),
    ("DID_CHANGE_RENEWAL_PREF", "DOWNGRADE", {}, {}, "active", "expiresDate", False, True),
    (
        "DID_CHANGE_RENEWAL_STATUS",
        "AUTO_RENEW_DISABLED",
        {"expires": timedelta(days=-3)},
        {"auto_renew": False},
        "expired",
        "expiresDate",
        True,
        False,
    ),
]


@pytest.mark.parametrize(
    (
        "notification_type",
        "subtype",
        "transaction",
        "renewal",
        "status",
        "period_end_from",
        "cancel_at_period_end",
        "entitled",
    ),
    MAPPINGS,
    ids=[f"{row[0]}-{row[1]}-{row[4]}" for row in MAPPINGS],
)
def test_each_notification_sets_the_entitlement_it_maps_to(
    api,
    apple,
    notify,
    user,
    linked,
    notification_type,
    subtype,
    transaction,
    renewal,
    status,
    period_end_from,
    cancel_at_period_end,
    entitled,
):
    transaction_info = transaction_claims(**transaction)
    renewal_info = renewal_claims(**renewal)

    event = notify(
        apple.notification(
            notification_type, subtype, transaction=transaction_info, renewal=renewal_info
        )
    )

    assert event.status == "processed", event.last_error
    stored = Entitlement.objects.get(pk=linked.pk)
    source = renewal_info if period_end_from == "gracePeriodExpiresDate" else transaction_info
    assert stored.status == status
    assert stored.current_period_end == moment(source[period_end_from])
    assert stored.cancel_at_period_end is cancel_at_period_end
    assert stored.source_updated_at == moment(event.payload["signedDate"])
    body = status_of(api, user)
    if entitled:
        assert (body["plan"], body["status"], body["source"]) == ("pro", status, "apple")
        assert body["cancel_at_period_end"] is cancel_at_period_end
        assert body["has_active_subscription"] is True
    else:
        assert (body["plan"], body["status"], body["source"]) == ("free", "none", None)
    assert Entitlement.objects.count() == 1


@pytest.mark.parametrize("notification_type", sorted(STATELESS_TYPES))
def test_notifications_without_subscription_state_change_nothing(
    apple, notify, linked, notification_type
):
    event = notify(
        apple.notification(
            notification_type,
            transaction=transaction_claims(revoked=True, expires=timedelta(days=-1)),
            renewal=renewal_claims(auto_renew=False),
        )
    )

    assert event.status == "ignored"
    stored = Entitlement.objects.get(pk=linked.pk)
    assert (stored.status, stored.cancel_at_period_end) == ("active", False)
    assert stored.source_updated_at == linked.source_updated_at


def test_a_test_notification_is_stored_and_acknowledged(apple, notify):
    event = notify(apple.notification("TEST"))

    assert (event.event_type, event.status) == ("TEST", "ignored")
    assert Entitlement.objects.count() == 0


def test_every_notification_type_apple_defines_is_mapped():
    known = {member.value for member in NotificationTypeV2}

    assert known <= set(NOTIFICATION_STATUS) | STATELESS_TYPES
    assert not set(NOTIFICATION_STATUS) & STATELESS_TYPES


def test_the_product_decides_the_plan(apple, notify, user, linked):
    transaction = transaction_claims(product_id=ENTERPRISE_PRODUCT)
    renewal = renewal_claims(product_id=ENTERPRISE_PRODUCT)

    notify(
        apple.notification("OFFER_REDEEMED", "UPGRADE", transaction=transaction, renewal=renewal)
    )

    stored = Entitlement.objects.get(pk=linked.pk)
    assert (stored.plan, stored.product_id) == ("enterprise", ENTERPRISE_PRODUCT)
    user.refresh_from_db()
    assert user.subscription_plan == "enterprise"


# --- order -----------------------------------------------------------------------------------


@pytest.mark.parametrize("newest_first", [True, False], ids=["newest-first", "in-order"])
def test_notifications_out_of_order_end_in_the_newest_state(
    api, apple, notify, user, linked, newest_first
):
    renewed = apple.notification(
        "DID_RENEW", transaction=transaction_claims(), signed=timedelta(hours=-2)
    )
    expired = apple.notification(
        "EXPIRED",
        "VOLUNTARY",
        transaction=transaction_claims(expires=timedelta(minutes=-5)),
        renewal=renewal_claims(auto_renew=False),
        signed=timedelta(hours=-1),
    )

    for signed in [expired, renewed] if newest_first else [renewed, expired]:
        assert notify(signed).status == "processed"

    stored = Entitlement.objects.get(pk=linked.pk)
    assert (stored.status, stored.cancel_at_period_end) == ("expired", True)
    assert status_of(api, user)["status"] == "none"


# --- whose purchase --------------------------------------------------------------------------


@pytest.mark.parametrize("case", [str.lower, str.upper], ids=["same-case", "other-case"])
def test_the_app_account_token_links_a_purchase_nobody_linked_yet(api, apple, notify, case):
    account = UserFactory(id=str(uuid.uuid4()))
    transaction = transaction_claims(app_account_token=case(account.pk))

    event = notify(apple.notification("SUBSCRIBED", "INITIAL_BUY", transaction=transaction))

    assert event.status == "processed"
    entitlement = Entitlement.objects.get()
    assert (entitlement.user, entitlement.external_id, entitlement.status) == (
        account,
        OTID,
        "active",
    )
    assert status_of(api, account)["source"] == "apple"


def test_a_token_in_the_renewal_info_links_too(apple, notify):
    account = UserFactory(id=str(uuid.uuid4()))

    notify(
        apple.notification(
            "DID_RENEW",
            transaction=transaction_claims(),
            renewal=renewal_claims(app_account_token=account.pk),
        )
    )

    assert Entitlement.objects.get().user == account


def test_a_linked_purchase_stays_with_its_user_whatever_the_token(apple, notify, user, linked):
    someone_else = UserFactory(id=str(uuid.uuid4()))
    transaction = transaction_claims(app_account_token=someone_else.pk, expires=timedelta(days=-1))

    notify(apple.notification("EXPIRED", transaction=transaction))

    stored = Entitlement.objects.get()
    assert (stored.user, stored.status) == (user, "expired")


@pytest.mark.parametrize(
    "token", [None, "0b7e4d2c-9f3a-4e55-8c1d-2f6a9b8e7d10"], ids=["no-token", "unknown-token"]
)
def test_a_purchase_of_no_known_user_is_processed_without_effect(
    apple, notify, user, token, caplog
):
    caplog.set_level("INFO", logger="billing.appstore.services")

    event = notify(
        apple.notification("SUBSCRIBED", transaction=transaction_claims(app_account_token=token))
    )

    assert event.status == "processed"
    assert Entitlement.objects.count() == 0
    assert "linked to no user" in caplog.text


def test_a_notification_held_back_for_lack_of_a_user_applies_when_replayed(
    api, apple, notify, user, django_capture_on_commit_callbacks
):
    event = notify(apple.notification("SUBSCRIBED", transaction=transaction_claims()))
    assert Entitlement.objects.count() == 0
    # The app links the purchase later, from a transaction signed before the notification.
    linked_by_app = api.as_user(user).post(
        "/api/v1/app/billing/iap/apple",
        {"signed_transaction": apple.transaction(signed=timedelta(minutes=-10))},
    )
    assert linked_by_app.status_code == 200

    with django_capture_on_commit_callbacks(execute=True):
        webhook_replay(events=WebhookEvent.objects.filter(pk=event.pk))

    event.refresh_from_db()
    entitlement = Entitlement.objects.get()
    assert (event.status, entitlement.user) == ("processed", user)
    assert entitlement.source_updated_at == moment(event.payload["signedDate"])


# --- product types ---------------------------------------------------------------------------


def test_a_refunded_non_consumable_is_canceled(apple, notify, user):
    EntitlementFactory(
        user=user,
        source="apple",
        external_id=OTID,
        current_period_end=None,
        source_updated_at=timezone.now() - timedelta(days=1),
    )
    transaction = transaction_claims(product_type=NON_CONSUMABLE, revoked=True)

    notify(apple.notification("REFUND", transaction=transaction))

    stored = Entitlement.objects.get()
    assert (stored.status, stored.current_period_end) == ("canceled", None)


def test_notifications_about_consumables_change_nothing(apple, notify):
    account = UserFactory(id=str(uuid.uuid4()))
    transaction = transaction_claims(
        product_type=CONSUMABLE, revoked=True, app_account_token=account.pk
    )

    event = notify(apple.notification("REFUND", transaction=transaction))

    assert event.status == "processed"
    assert Entitlement.objects.count() == 0


def test_a_notification_without_a_transaction_changes_nothing(apple, notify, linked):
    event = notify(apple.notification("DID_RENEW"))

    assert event.status == "processed"
    assert Entitlement.objects.get().source_updated_at == linked.source_updated_at


# --- the whole stack, with Celery running the task inside the request -----------------------


@pytest.mark.parametrize(
    ("notification_type", "ack"), [("DID_RENEW", "processed"), ("TEST", "ignored")]
)
def test_the_webhook_answers_with_the_outcome_of_processing(
    transactional_db, api, apple, notification_type, ack
):
    account = UserFactory(id=str(uuid.uuid4()))
    transaction = transaction_claims(app_account_token=account.pk)

    response = deliver(api, apple.notification(notification_type, transaction=transaction))

    assert response.status_code == 200
    assert response.json() == {"status": ack}
    assert Entitlement.objects.filter(user=account).exists() is (ack == "processed")
