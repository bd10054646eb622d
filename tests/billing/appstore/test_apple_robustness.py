"""With the App Store configured, odd input (random, or odd but validly signed) is never a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from accounts.tokens import mint_development_token
from billing.models import Entitlement
from tests.billing.appstore.conftest import LINK_URL, deliver
from tests.billing.appstore.signing import AppStore, notification_claims, transaction_claims
from tests.contract.in_process import wsgi_schema
from tests.factories import UserFactory
from webhooks.models import WebhookEvent


@pytest.fixture
def apple_schema(db: None, apple: AppStore) -> Iterator[schemathesis.BaseSchema]:
    """The API schema, served with the App Store configured."""
    with wsgi_schema() as loaded:
        yield loaded


schema = schemathesis.pytest.from_fixture("apple_schema").include(path_regex="/apple$")


@schema.parametrize()
@hypothesis_settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_generated_requests_to_a_configured_app_store_never_fail_the_server(case):
    user = UserFactory()
    token = mint_development_token(email=user.email, subject=user.pk)

    response = case.call(headers={"Authorization": f"Bearer {token}"})

    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:500])
    if response.status_code >= 400:
        assert set(response.json()["error"]) == {"code", "message", "details"}


def _notification(apple: AppStore, **changes: Any) -> str:
    claims = notification_claims(
        notification_type="DID_RENEW",
        signed_transaction=apple.chain.sign(transaction_claims()),
    )
    return apple.chain.sign(claims | changes)


def _with_data(apple: AppStore, **changes: Any) -> str:
    claims = notification_claims(
        notification_type="DID_RENEW",
        signed_transaction=apple.chain.sign(transaction_claims()),
    )
    claims["data"] |= changes
    return apple.chain.sign(claims)


ODD_NOTIFICATIONS = {
    "data-not-an-object": lambda apple: _notification(apple, data="Sandbox"),
    "type-not-a-string": lambda apple: _notification(apple, notificationType=42),
    "subtype-not-a-string": lambda apple: _notification(apple, subtype=["GRACE_PERIOD"]),
    "uuid-too-long": lambda apple: _notification(apple, notificationUUID="u" * 300),
    "signed-date-absurd": lambda apple: _notification(apple, signedDate=10**20),
    "signed-date-text": lambda apple: _notification(apple, signedDate="yesterday"),
    "transaction-not-a-string": lambda apple: _with_data(apple, signedTransactionInfo=42),
    "transaction-not-a-jws": lambda apple: _with_data(apple, signedTransactionInfo="x.y.z"),
    "renewal-empty": lambda apple: _with_data(apple, signedRenewalInfo=""),
    "app-id-text": lambda apple: _with_data(apple, appAppleId="one"),
    "expires-as-text": lambda apple: _with_data(
        apple,
        signedTransactionInfo=apple.chain.sign(transaction_claims() | {"expiresDate": "soon"}),
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("make", ODD_NOTIFICATIONS.values(), ids=ODD_NOTIFICATIONS.keys())
def test_odd_but_signed_notifications_are_refused_cleanly(api, apple, make):
    response = deliver(api, make(apple))

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "BAD_REQUEST"
    assert WebhookEvent.objects.count() == 0


ODD_TRANSACTIONS = {
    "ids-not-strings": {"originalTransactionId": 2000000100000001, "productId": None},
    "no-ids": {"originalTransactionId": "", "productId": ""},
    "expires-as-text": {"expiresDate": "soon"},
    "no-type": {"type": None},
    "unknown-type": {"type": "Lifetime Bundle"},
    "environment-as-number": {"environment": 1},
    "product-id-too-long": {"productId": "p" * 300},
}


@pytest.mark.django_db
@pytest.mark.parametrize("changes", ODD_TRANSACTIONS.values(), ids=ODD_TRANSACTIONS.keys())
def test_odd_but_signed_transactions_are_refused_cleanly(api, apple, user, changes):
    signed = apple.chain.sign(transaction_claims() | changes)

    response = api.as_user(user).post(LINK_URL, {"signed_transaction": signed})

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "BAD_REQUEST"
    assert Entitlement.objects.count() == 0


@pytest.mark.django_db
def test_a_notification_whose_values_cannot_be_stored_ends_without_effect(
    api, apple, django_capture_on_commit_callbacks
):
    account = UserFactory(id="0b7e4d2c-9f3a-4e55-8c1d-2f6a9b8e7d10")
    transaction = transaction_claims(app_account_token=account.pk) | {"productId": "p" * 300}

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(api, apple.notification("SUBSCRIBED", transaction=transaction))

    assert response.status_code == 200
    assert WebhookEvent.objects.get().status == "processed"
    assert Entitlement.objects.count() == 0
