"""POST /api/v1/app/billing/iap/apple: the app links a StoreKit 2 purchase to the signed-in user."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from billing.models import Entitlement
from tests.billing.appstore.conftest import LINK_URL, STATUS_URL, deliver
from tests.billing.appstore.signing import (
    CONSUMABLE,
    ENTERPRISE_PRODUCT,
    NON_CONSUMABLE,
    NON_RENEWING,
    PRODUCT,
    AppStore,
    make_chain,
    renewal_claims,
    tamper_payload,
    tamper_signature,
    transaction_claims,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OTID = "2000000100000001"


def link(api, user, signed_transaction: str):
    return api.as_user(user).post(LINK_URL, {"signed_transaction": signed_transaction})


def claims_of(signed: str) -> dict:
    return dict(jwt.decode(signed, options={"verify_signature": False}))


def moment(milliseconds: int) -> datetime:
    return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)


def refused(response, status: int, code: str, reason: str | None = None) -> None:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    if reason is not None:
        assert error["details"]["reason"] == reason
    assert Entitlement.objects.count() == 0


def test_linking_a_subscription_returns_my_billing_status(api, apple, user):
    signed = apple.transaction()
    claims = claims_of(signed)

    response = link(api, user, signed)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body == {
        "plan": "pro",
        "status": "active",
        "source": "apple",
        "current_period_end": body["current_period_end"],
        "cancel_at_period_end": False,
        "has_active_subscription": True,
    }
    assert body["current_period_end"].endswith("Z")
    entitlement = Entitlement.objects.get()
    assert (entitlement.user, entitlement.external_id, entitlement.product_id) == (
        user,
        OTID,
        PRODUCT,
    )
    assert entitlement.current_period_end == moment(claims["expiresDate"])
    assert entitlement.source_updated_at == moment(claims["signedDate"])
    assert api.as_user(user).get(STATUS_URL).json() == body


def test_the_product_decides_the_plan(api, apple, user, settings):
    assert link(api, user, apple.transaction(product_id=ENTERPRISE_PRODUCT)).json()["plan"] == (
        "enterprise"
    )
    settings.IAP_PRODUCT_PLANS = {"com.example.groundwork.team": "enterprise"}
    team = apple.transaction(
        original_transaction_id="2000000100000002", product_id="com.example.groundwork.team"
    )
    assert link(api, user, team).json()["plan"] == "enterprise"


def test_linking_the_same_purchase_again_is_harmless(api, apple, user):
    first = link(api, user, apple.transaction(signed=timedelta(minutes=-5)))
    again = link(api, user, apple.transaction())

    assert first.status_code == again.status_code == 200
    assert Entitlement.objects.count() == 1


def test_a_purchase_linked_to_another_user_is_a_conflict(api, apple, user, other_user):
    assert link(api, user, apple.transaction()).status_code == 200

    response = link(api, other_user, apple.transaction())

    assert response.status_code == 409
    error = response.json()["error"]
    assert (error["code"], error["details"]["source"]) == ("CONFLICT", "apple")
    assert Entitlement.objects.get().user == user
    assert api.as_user(other_user).get(STATUS_URL).json()["plan"] == "free"


def test_a_purchase_made_for_another_account_is_a_conflict(api, apple, user):
    buyer = UserFactory(id=str(uuid.uuid4()))

    response = link(api, user, apple.transaction(app_account_token=buyer.pk.upper()))

    refused(response, 409, "CONFLICT")
    assert link(api, buyer, apple.transaction(app_account_token=buyer.pk)).status_code == 200


def test_a_token_naming_no_user_does_not_stop_the_link(api, apple, user):
    signed = apple.transaction(app_account_token=str(uuid.uuid4()))

    assert link(api, user, signed).status_code == 200


@pytest.mark.parametrize(
    ("transaction", "status"),
    [
        ({"revoked": True}, "canceled"),
        ({"expires": timedelta(days=-3)}, "expired"),
    ],
    ids=["revoked", "expired"],
)
def test_a_purchase_that_grants_nothing_links_without_a_plan(api, apple, user, transaction, status):
    response = link(api, user, apple.transaction(**transaction))

    assert response.status_code == 200
    assert (response.json()["plan"], response.json()["status"]) == ("free", "none")
    assert Entitlement.objects.get().status == status


def test_a_non_consumable_is_a_lifetime_entitlement(api, apple, user):
    response = link(api, user, apple.transaction(product_type=NON_CONSUMABLE))

    assert response.status_code == 200
    body = response.json()
    assert (body["plan"], body["status"], body["current_period_end"]) == ("pro", "active", None)


@pytest.mark.parametrize("product_type", [CONSUMABLE, NON_RENEWING])
def test_consumables_and_non_renewing_subscriptions_are_not_linked(api, apple, user, product_type):
    response = link(api, user, apple.transaction(product_type=product_type))

    refused(response, 400, "BAD_REQUEST")
    assert response.json()["error"]["details"]["type"] == product_type


def test_an_older_transaction_does_not_undo_a_newer_notification(
    api, apple, user, django_capture_on_commit_callbacks
):
    assert link(api, user, apple.transaction(signed=timedelta(hours=-3))).status_code == 200
    notification = apple.notification(
        "DID_CHANGE_RENEWAL_STATUS",
        "AUTO_RENEW_DISABLED",
        transaction=transaction_claims(),
        renewal=renewal_claims(auto_renew=False),
        signed=timedelta(hours=-1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        deliver(api, notification)
    notified_at = moment(claims_of(notification)["signedDate"])

    stale = link(api, user, apple.transaction(signed=timedelta(hours=-2), revoked=True))

    assert (stale.json()["status"], stale.json()["cancel_at_period_end"]) == ("active", True)
    assert Entitlement.objects.get().source_updated_at == notified_at

    fresh_transaction = apple.transaction()
    fresh = link(api, user, fresh_transaction)

    # A transaction says nothing of renewal: what the notification reported stays.
    assert (fresh.json()["status"], fresh.json()["cancel_at_period_end"]) == ("active", True)
    assert Entitlement.objects.get().source_updated_at == moment(
        claims_of(fresh_transaction)["signedDate"]
    )


# --- refused ---------------------------------------------------------------------------------


def test_a_transaction_signed_by_another_chain_is_refused(api, apple, user):
    impostor = AppStore(make_chain())

    refused(link(api, user, impostor.transaction()), 400, "BAD_REQUEST", "verification_failure")


def _upgraded(signed: str) -> str:
    return tamper_payload(signed, productId=ENTERPRISE_PRODUCT)


@pytest.mark.parametrize("tamper", [tamper_signature, _upgraded], ids=["signature", "payload"])
def test_a_tampered_transaction_is_refused(api, apple, user, tamper):
    response = link(api, user, tamper(apple.transaction()))

    refused(response, 400, "BAD_REQUEST", "verification_failure")


def test_a_transaction_of_another_app_is_refused(api, apple, user):
    response = link(api, user, apple.transaction(bundle_id="com.example.other"))

    refused(response, 400, "BAD_REQUEST", "invalid_app_identifier")


def test_a_transaction_from_an_environment_not_accepted_is_refused(api, apple, user):
    production = AppStore(apple.chain, environment="Production")

    response = link(api, user, production.transaction())

    refused(response, 400, "BAD_REQUEST", "invalid_environment")


@pytest.mark.parametrize(
    ("signed", "reason"),
    [
        ("not-a-jws", "verification_failure"),
        ("a.b.c", "verification_failure"),
        ("e30.e30.e30", "invalid_environment"),  # `{}`: no environment to verify it for
    ],
)
def test_garbage_is_refused(api, apple, user, signed, reason):
    refused(link(api, user, signed), 400, "BAD_REQUEST", reason)


def test_without_configuration_linking_is_unavailable(api, apple, user, settings):
    signed = apple.transaction()
    settings.APPLE_BUNDLE_ID = ""

    refused(link(api, user, signed), 503, "SERVICE_UNAVAILABLE")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"signed_transaction": ""},
        {"signed_transaction": None},
        {"signed_transaction": "x" * 40_000},
    ],
    ids=["missing", "blank", "null", "too-long"],
)
def test_an_invalid_body_is_a_validation_error(api, apple, user, body):
    response = api.as_user(user).post(LINK_URL, body)

    refused(response, 422, "VALIDATION_ERROR")
    assert response.json()["error"]["details"]["field"] == "signed_transaction"


def test_linking_needs_a_signed_in_user(api, apple):
    response = api.post(LINK_URL, {"signed_transaction": apple.transaction()})

    refused(response, 401, "AUTHENTICATION_ERROR")
