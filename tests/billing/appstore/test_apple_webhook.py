"""POST /api/v1/public/webhooks/apple: only data that chains to the configured root is stored."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import cast

import pytest

from billing.appstore.client import verifier_for
from billing.models import Entitlement
from tests.billing.appstore.conftest import WEBHOOK_URL, deliver
from tests.billing.appstore.signing import (
    APP_ID,
    AppStore,
    make_chain,
    notification_claims,
    renewal_claims,
    tamper_payload,
    tamper_signature,
    transaction_claims,
)
from tests.billing.factories import EntitlementFactory
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

OTID = "2000000100000001"


@pytest.fixture
def linked(user) -> Entitlement:
    """The user's App Store subscription, linked earlier, auto-renewing."""
    entitlement = EntitlementFactory(
        user=user,
        source="apple",
        external_id=OTID,
        product_id="com.example.groundwork.pro.monthly",
        source_updated_at=None,
    )
    return cast(Entitlement, entitlement)


def renewal_notification(apple: AppStore, **claims) -> str:
    return apple.notification(
        "DID_CHANGE_RENEWAL_STATUS",
        "AUTO_RENEW_DISABLED",
        transaction=transaction_claims(environment=apple.environment),
        renewal=renewal_claims(auto_renew=False, environment=apple.environment),
        **claims,
    )


def refused(response, reason: str | None = None, status: int = 400) -> None:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == "BAD_REQUEST"
    if reason is not None:
        assert error["details"]["reason"] == reason
    assert WebhookEvent.objects.count() == 0


def unchanged(entitlement: Entitlement) -> None:
    stored = Entitlement.objects.get(pk=entitlement.pk)
    assert (stored.status, stored.cancel_at_period_end) == ("active", False)


def test_a_verified_notification_is_stored_under_its_uuid_with_the_signed_data_decoded(api, apple):
    signed = renewal_notification(apple, notification_uuid="6e4c4b2c-5f0e-4a79-9c5e-1b9b7e0b0a01")

    response = deliver(api, signed)

    assert response.status_code == 200, response.content
    assert response.json()["status"] in ("queued", "processed")
    event = WebhookEvent.objects.get()
    assert (event.provider, event.event_id, event.event_type) == (
        "apple",
        "6e4c4b2c-5f0e-4a79-9c5e-1b9b7e0b0a01",
        "DID_CHANGE_RENEWAL_STATUS",
    )
    assert event.payload["subtype"] == "AUTO_RENEW_DISABLED"
    data = event.payload["data"]
    assert "signedTransactionInfo" not in data and "signedRenewalInfo" not in data
    assert data["transactionInfo"]["originalTransactionId"] == OTID
    assert data["transactionInfo"]["bundleId"] == "com.example.groundwork"
    assert data["renewalInfo"]["autoRenewStatus"] == 0
    assert json.loads(event.raw_body) == {"signedPayload": signed}


def test_a_redelivery_is_a_duplicate_with_one_effect(
    api, apple, linked, django_capture_on_commit_callbacks
):
    signed = renewal_notification(apple)

    with django_capture_on_commit_callbacks(execute=True):
        first = deliver(api, signed)
    with django_capture_on_commit_callbacks(execute=True) as second_run:
        second = deliver(api, signed)

    assert first.status_code == second.status_code == 200
    assert second.json() == {"status": "duplicate"}
    assert second_run == []  # nothing scheduled again
    event = WebhookEvent.objects.get()
    assert (event.status, event.attempts) == ("processed", 1)
    assert Entitlement.objects.get(pk=linked.pk).cancel_at_period_end is True


def test_a_root_given_as_pem_is_trusted_too(api, apple, settings, tmp_path):
    settings.APPLE_ROOT_CERTIFICATES = [apple.chain.write_root(tmp_path, pem=True)]

    assert deliver(api, renewal_notification(apple)).status_code == 200


def test_several_roots_may_be_trusted(api, apple, settings, tmp_path):
    other = make_chain()
    settings.APPLE_ROOT_CERTIFICATES = [
        other.write_root(tmp_path, pem=True),
        apple.chain.write_root(tmp_path),
    ]

    assert deliver(api, renewal_notification(apple)).status_code == 200
    assert deliver(api, renewal_notification(AppStore(other))).status_code == 200
    assert WebhookEvent.objects.count() == 2


def test_production_and_sandbox_may_both_be_accepted(api, apple, settings):
    settings.APPLE_ENVIRONMENT = ["Production", "Sandbox"]

    production = renewal_notification(AppStore(apple.chain, environment="Production"))
    sandbox = renewal_notification(apple)

    assert deliver(api, production).status_code == 200
    assert deliver(api, sandbox).status_code == 200
    environments = {e.payload["data"]["environment"] for e in WebhookEvent.objects.all()}
    assert environments == {"Production", "Sandbox"}


# --- refused ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("chain_options", "reason"),
    [
        ({}, "verification_failure"),  # a chain to another root
        ({"intermediate_oid": False}, "verification_failure"),
        ({"leaf_oid": False}, "verification_failure"),
    ],
    ids=["foreign-root", "intermediate-without-apple-oid", "leaf-without-apple-oid"],
)
def test_data_not_signed_through_apples_chain_is_refused(
    api, apple, linked, settings, tmp_path, chain_options, reason
):
    impostor = make_chain(**chain_options)
    if chain_options:  # same shape as Apple's, its root trusted, but an OID missing
        settings.APPLE_ROOT_CERTIFICATES = [impostor.write_root(tmp_path)]

    refused(deliver(api, renewal_notification(AppStore(impostor))), reason)
    unchanged(linked)


def test_a_notification_for_another_bundle_is_refused(api, apple, linked):
    refused(
        deliver(api, renewal_notification(apple, bundle_id="com.example.other")),
        "invalid_app_identifier",
    )
    unchanged(linked)


def test_a_production_notification_for_another_app_id_is_refused(api, apple, settings, linked):
    settings.APPLE_ENVIRONMENT = ["Production"]
    production = AppStore(apple.chain, environment="Production")

    refused(
        deliver(api, renewal_notification(production, app_id=APP_ID + 1)),
        "invalid_app_identifier",
    )
    refused(deliver(api, renewal_notification(production, app_id=None)), "invalid_app_identifier")
    unchanged(linked)


def test_a_notification_from_an_environment_not_accepted_is_refused(api, apple, linked):
    production = AppStore(apple.chain, environment="Production")

    refused(deliver(api, renewal_notification(production)), "invalid_environment")
    unchanged(linked)


def test_a_notification_whose_nested_data_claims_another_environment_is_refused(
    api, apple, settings, linked
):
    settings.APPLE_ENVIRONMENT = ["Production", "Sandbox"]
    signed = apple.notification(
        "DID_RENEW",
        transaction=transaction_claims(environment="Production"),
        renewal=renewal_claims(environment="Sandbox"),
    )

    refused(deliver(api, signed), "invalid_environment")
    unchanged(linked)


def test_a_tampered_payload_is_refused(api, apple, linked):
    signed = renewal_notification(apple)
    tampered = tamper_payload(signed, notificationType="REFUND")

    refused(deliver(api, tampered), "verification_failure")
    unchanged(linked)


def test_a_tampered_signature_is_refused(api, apple, linked):
    refused(deliver(api, tamper_signature(renewal_notification(apple))), "verification_failure")
    unchanged(linked)


@pytest.mark.parametrize("nested", ["transaction", "renewal"])
def test_a_notification_carrying_tampered_nested_data_is_refused(api, apple, linked, nested):
    signed = {
        "transaction": apple.chain.sign(transaction_claims()),
        "renewal": apple.chain.sign(renewal_claims()),
    }
    # Apple signed the outer notification; what it carries was changed before it was signed.
    signed[nested] = tamper_payload(signed[nested], autoRenewStatus=0, revocationDate=1)
    claims = notification_claims(
        notification_type="DID_CHANGE_RENEWAL_STATUS",
        signed_transaction=signed["transaction"],
        signed_renewal=signed["renewal"],
    )

    refused(deliver(api, apple.chain.sign(claims)), "verification_failure")
    unchanged(linked)


def test_a_nested_transaction_of_another_bundle_is_refused(api, apple, linked):
    signed = apple.notification(
        "REFUND", transaction=transaction_claims(bundle_id="com.example.other", revoked=True)
    )

    refused(deliver(api, signed), "invalid_app_identifier")
    unchanged(linked)


def test_renewal_info_about_another_purchase_is_refused(api, apple, linked):
    signed = apple.notification(
        "DID_CHANGE_RENEWAL_STATUS",
        "AUTO_RENEW_DISABLED",
        transaction=transaction_claims(),
        renewal=renewal_claims(original_transaction_id="2000000999999999", auto_renew=False),
    )

    refused(deliver(api, signed), "malformed")
    unchanged(linked)


def test_data_signed_after_the_chain_expired_is_refused(api, apple):
    # Without online checks the chain is validated at the data's own signedDate.
    signed = renewal_notification(apple, signed=timedelta(days=3700))

    refused(deliver(api, signed), "verification_failure")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"signedPayload": 42}',
        b'{"signedPayload": ""}',
        b'{"signedPayload": "not.a.jws"}',
        b'{"signedPayload": "eyJhbGciOiJub25lIn0.eyJub3RpZmljYXRpb25UeXBlIjoiVEVTVCJ9."}',
    ],
    ids=["not-json", "array", "empty", "number", "blank", "garbage", "unsigned"],
)
def test_a_body_without_a_verifiable_signed_payload_is_refused(api, apple, body):
    response = api.post(WEBHOOK_URL, data=body, content_type="application/json")

    refused(response)


def test_a_notification_without_uuid_is_refused(api, apple):
    claims = {
        "notificationType": "TEST",
        "signedDate": transaction_claims()["signedDate"],
        "data": {"bundleId": "com.example.groundwork", "environment": "Sandbox"},
    }

    refused(deliver(api, apple.chain.sign(claims)), "malformed")


@pytest.mark.parametrize(
    "missing",
    [{"APPLE_BUNDLE_ID": ""}, {"APPLE_ROOT_CERTIFICATES": []}],
    ids=["no-bundle-id", "no-root-certificates"],
)
def test_without_configuration_the_endpoint_is_unavailable(api, apple, settings, missing):
    signed = renewal_notification(apple)
    for name, value in missing.items():
        setattr(settings, name, value)

    response = deliver(api, signed)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert WebhookEvent.objects.count() == 0


# --- verifiers -------------------------------------------------------------------------------


def test_verifiers_are_kept_per_configuration(apple, settings, tmp_path):
    first = verifier_for("Sandbox")

    assert verifier_for("Sandbox") is first
    settings.APPLE_BUNDLE_ID = "com.example.other"
    assert verifier_for("Sandbox") is not first
    settings.APPLE_BUNDLE_ID = "com.example.groundwork"
    assert verifier_for("Sandbox") is first
    settings.APPLE_ROOT_CERTIFICATES = [apple.chain.write_root(tmp_path)]
    assert verifier_for("Sandbox") is not first


def test_an_unreadable_root_certificate_makes_the_endpoint_unavailable(
    api, apple, settings, tmp_path
):
    broken = tmp_path / "broken.cer"
    broken.write_bytes(b"not a certificate")
    settings.APPLE_ROOT_CERTIFICATES = [str(broken)]

    response = deliver(api, renewal_notification(apple))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


def test_the_ledger_keeps_what_the_handler_reads_under_the_purchase(api, apple):
    transaction = transaction_claims(environment=apple.environment) | {
        "price": 9990,
        "currency": "USD",
        "storefront": "USA",
        "offerDiscountType": "FREE_TRIAL",
    }
    signed = apple.notification("DID_RENEW", transaction=transaction)

    assert deliver(api, signed).status_code == 200

    event = WebhookEvent.objects.get()
    assert event.subject == OTID
    kept = event.payload["data"]["transactionInfo"]
    assert kept["originalTransactionId"] == OTID and "expiresDate" in kept
    assert not {"price", "currency", "storefront", "offerDiscountType"} & set(kept)


def test_erasing_a_user_empties_the_raw_bodies_of_their_purchases_events(
    api, apple, linked, user, django_capture_on_commit_callbacks
):
    assert deliver(api, renewal_notification(apple)).status_code == 200
    assert WebhookEvent.objects.get().raw_body

    with django_capture_on_commit_callbacks(execute=True):
        assert api.as_user(user).delete("/api/v1/app/users/me").status_code == 204

    event = WebhookEvent.objects.get()
    assert event.raw_body == ""
    assert event.payload["data"]["transactionInfo"]["originalTransactionId"] == OTID
