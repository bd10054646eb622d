"""Stripe billing endpoints end to end against the fake Stripe: invoices, plans, checkout,
portal, cancel and resume, with idempotency keys and Stripe's failures mapped."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from djstripe.models import Customer

from billing.models import Entitlement
from billing.services import entitlement_grant_manual
from billing.stripe.services import stripe_invoice_refresh, stripe_subscription_refresh
from tests.billing.conftest import APP_ORIGIN, BILLING_ORIGIN, MONTHLY, YEARLY
from tests.billing.factories import EntitlementFactory

pytestmark = pytest.mark.django_db

BILLING = "/api/v1/app/billing"
SUCCESS = f"{APP_ORIGIN}/billing/success?session={{CHECKOUT_SESSION_ID}}"
CANCEL = f"{BILLING_ORIGIN}/billing/cancelled"


@pytest.fixture
def as_user(api, user):
    return api.as_user(user)


@pytest.fixture
def customer(stripe_fake, user) -> dict:
    customer = stripe_fake.add_customer(user_id=user.pk, email=user.email)
    return customer


@pytest.fixture
def subscribed(stripe_fake, customer, user) -> dict:
    """The user subscribed to pro monthly, synced as its webhook would."""
    sub = stripe_fake.add_subscription(customer=customer["id"], price=MONTHLY)
    stripe_subscription_refresh(subscription_id=sub["id"])
    stripe_fake.requests.clear()
    return sub


def checkout(client, plan="monthly", success=SUCCESS, cancel=CANCEL, **headers):
    return client.post(
        f"{BILLING}/checkout",
        {"plan": plan, "success_url": success, "cancel_url": cancel},
        headers=headers,
    )


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    error: dict = response.json()["error"]
    return error


# --- invoices --------------------------------------------------------------------------------


def test_invoices_are_read_from_the_database_newest_first(
    stripe_fake, customer, as_user, django_assert_max_num_queries
):
    now = int(time.time())
    for age, number in ((3, "INV-1"), (1, "INV-3"), (2, "INV-2")):
        invoice = stripe_fake.add_invoice(
            customer=customer["id"], created=now - age * 86_400, number=number
        )
        stripe_invoice_refresh(invoice_id=invoice["id"])
    stripe_fake.requests.clear()
    as_user.get(f"{BILLING}/invoices")  # records the login
    as_user.get(f"{BILLING}/invoices")  # caches the user

    with django_assert_max_num_queries(1):
        response = as_user.get(f"{BILLING}/invoices?limit=2")

    assert response.status_code == 200
    invoices = response.json()
    assert [i["number"] for i in invoices] == ["INV-3", "INV-2"]
    first = invoices[0]
    assert set(first) == {
        "id",
        "number",
        "status",
        "amount_due",
        "amount_paid",
        "currency",
        "created",
        "hosted_invoice_url",
        "invoice_pdf",
    }
    assert (first["status"], first["amount_due"], first["amount_paid"]) == ("paid", 1900, 1900)
    assert first["currency"] == "usd"
    assert first["created"].endswith("Z")
    assert first["hosted_invoice_url"].startswith("https://invoice.stripe.test/")
    assert stripe_fake.requests == []  # no Stripe call per request


def test_invoices_default_to_ten_and_only_the_users_own(stripe_fake, customer, as_user, other_user):
    for _ in range(12):
        stripe_invoice_refresh(invoice_id=stripe_fake.add_invoice(customer=customer["id"])["id"])
    stranger = stripe_fake.add_customer(user_id=other_user.pk)
    stripe_invoice_refresh(invoice_id=stripe_fake.add_invoice(customer=stranger["id"])["id"])

    assert len(as_user.get(f"{BILLING}/invoices").json()) == 10
    assert len(as_user.get(f"{BILLING}/invoices?limit=100").json()) == 12


@pytest.mark.parametrize("limit", ["0", "101", "ten"])
def test_invoice_limits_out_of_range_are_422(as_user, limit):
    error = error_of(as_user.get(f"{BILLING}/invoices?limit={limit}"), 422)

    assert error["details"]["field"] == "limit"


def test_invoices_without_stripe_are_an_empty_list(as_user):
    assert as_user.get(f"{BILLING}/invoices").json() == []


def test_billing_routes_require_a_user(api):
    for method, path in (
        ("get", "invoices"),
        ("post", "checkout"),
        ("get", "portal"),
        ("post", "cancel"),
        ("post", "resume"),
    ):
        assert getattr(api, method)(f"{BILLING}/{path}").status_code == 401, path


# --- plans -----------------------------------------------------------------------------------


def test_plans_show_the_synced_stripe_prices(stripe_fake, as_user, client):
    from billing.stripe.services import stripe_price_refresh

    stripe_price_refresh(price_id=MONTHLY)

    plans = {p["id"]: p for p in as_user.get(f"{BILLING}/plans").json()}

    assert (plans["pro_monthly"]["amount"], plans["pro_monthly"]["currency"]) == (2500, "usd")
    # Not synced yet: the configured fallback price.
    assert plans["pro_yearly"]["amount"] == 19000


# --- checkout --------------------------------------------------------------------------------


def test_checkout_creates_the_customer_once_and_a_session(stripe_fake, as_user, user):
    response = checkout(as_user)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["session_id"].startswith("cs_test_")
    assert body["url"] == f"https://checkout.stripe.test/c/pay/{body['session_id']}"
    (created,) = stripe_fake.calls("POST", "/v1/customers")
    assert created.form["metadata[user_id]"] == user.pk
    assert created.form["email"] == user.email
    assert created.headers["idempotency-key"]
    customer = Customer.objects.get(subscriber=user)
    (session,) = stripe_fake.calls("POST", "/v1/checkout/sessions")
    assert session.form == {
        "mode": "subscription",
        "customer": customer.id,
        "client_reference_id": user.pk,
        "line_items[0][price]": MONTHLY,
        "line_items[0][quantity]": "1",
        "success_url": SUCCESS,
        "cancel_url": CANCEL,
        "metadata[user_id]": user.pk,
        "subscription_data[metadata][user_id]": user.pk,
    }
    assert session.headers["idempotency-key"]
    assert session.headers["stripe-version"] == "2026-08-26.dahlia"
    assert session.headers["authorization"] == "Bearer sk_test_FakeStripeKey0123456789abcdef"

    yearly = checkout(as_user, plan="yearly")

    assert yearly.status_code == 200
    assert len(stripe_fake.calls("POST", "/v1/customers")) == 1
    assert stripe_fake.calls("POST", "/v1/checkout/sessions")[1].form["line_items[0][price]"] == (
        YEARLY
    )


def test_a_repeated_checkout_is_a_retry_with_the_same_key(stripe_fake, as_user):
    first = checkout(as_user).json()
    second = checkout(as_user).json()

    assert first == second
    keys = {r.headers["idempotency-key"] for r in stripe_fake.calls("POST", "/v1/checkout")}
    assert len(keys) == 1


def test_a_client_idempotency_key_decides_what_is_a_retry(stripe_fake, as_user):
    first = checkout(as_user, **{"Idempotency-Key": "click-1"}).json()
    replay = checkout(as_user, **{"Idempotency-Key": "click-1"}).json()
    other = checkout(as_user, **{"Idempotency-Key": "click-2"}).json()
    misuse = checkout(as_user, plan="yearly", **{"Idempotency-Key": "click-1"})

    assert first == replay
    assert other["session_id"] != first["session_id"]
    assert error_of(misuse, 409)["code"] == "CONFLICT"
    sent = [r.headers["idempotency-key"] for r in stripe_fake.calls("POST", "/v1/checkout")]
    assert "click-1" not in sent  # namespaced by user and action


def test_an_unusable_idempotency_key_is_422(stripe_fake, as_user):
    error = error_of(checkout(as_user, **{"Idempotency-Key": "x" * 256}), 422)

    assert error["details"]["field"] == "Idempotency-Key"


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example.com/billing",
        "https://app.example.com.evil.com/",
        "https://app.example.com@evil.com/",
        "https://evil.com\\@app.example.com/",
        "http://app.example.com/",
        "https://app.example.com:8443/",
        "javascript://app.example.com/%0aalert(1)",
        "//app.example.com/",
    ],
)
def test_checkout_redirects_off_the_allowed_origins_are_422(stripe_fake, as_user, url):
    for field, response in (
        ("success_url", checkout(as_user, success=url)),
        ("cancel_url", checkout(as_user, cancel=url)),
    ):
        error = error_of(response, 422)
        assert error["details"]["field"] == field
    assert stripe_fake.requests == []


def test_allowed_origins_match_whatever_the_case_and_default_port(stripe_fake, as_user):
    response = checkout(as_user, success="HTTPS://App.Example.com:443/done")

    assert response.status_code == 200, response.content


def test_checkout_while_subscribed_is_400(stripe_fake, subscribed, as_user):
    error = error_of(checkout(as_user), 400)

    assert error["details"]["reason"] == "already_subscribed"
    assert stripe_fake.requests == []


def test_a_subscription_from_an_app_store_also_blocks_checkout(stripe_fake, as_user, user):
    EntitlementFactory(user=user, source="apple", external_id="1000000001")

    assert checkout(as_user).status_code == 400


def test_a_manual_grant_does_not_block_checkout(stripe_fake, as_user, user):
    staff = type(user).objects.create_superuser("staff@example.com", "a-long-password-123")
    entitlement_grant_manual(user=user, plan="pro", granted_by=staff)

    assert checkout(as_user).status_code == 200


def test_checkout_without_stripe_is_503(as_user):
    error = error_of(checkout(as_user), 503)

    assert error["details"]["service"] == "stripe"


def test_checkout_of_an_unconfigured_price_is_503(stripe_fake, as_user, settings):
    settings.STRIPE_PRICE_ID_YEARLY = ""

    assert checkout(as_user, plan="yearly").status_code == 503


def test_a_stripe_error_is_a_502_envelope(stripe_fake, as_user):
    stripe_fake.fail(500)

    error = error_of(checkout(as_user), 502)

    assert error["code"] == "EXTERNAL_SERVICE_ERROR"
    assert error["details"]["service"] == "stripe"
    assert error["details"]["status"] == 500
    assert "request_id" in error["details"]


def test_a_stripe_card_or_request_error_is_also_502(stripe_fake, as_user):
    stripe_fake.fail(400, error_type="invalid_request_error")

    assert error_of(checkout(as_user), 502)["details"]["status"] == 400


def test_a_stripe_timeout_is_504(stripe_fake, as_user, settings):
    settings.STRIPE_TIMEOUT_SECONDS = 0.3
    stripe_fake.delay = 1.0

    error = error_of(checkout(as_user), 504)

    assert error["code"] == "GATEWAY_TIMEOUT"
    assert error["details"]["service"] == "stripe"


def test_stripe_unreachable_is_504(stripe_fake, as_user, settings):
    stripe_fake.stop()

    assert error_of(checkout(as_user), 504)["code"] == "GATEWAY_TIMEOUT"


# --- portal ----------------------------------------------------------------------------------


def test_portal_without_a_billing_account_is_400(stripe_fake, as_user):
    error = error_of(as_user.get(f"{BILLING}/portal"), 400)

    assert error["details"]["reason"] == "no_customer"


def test_portal_opens_a_session_for_the_customer(stripe_fake, subscribed, as_user):
    return_url = f"{APP_ORIGIN}/settings/billing"

    response = as_user.get(f"{BILLING}/portal", {"return_url": return_url})

    assert response.status_code == 200, response.content
    assert response.json()["url"].startswith("https://billing.stripe.test/p/session/")
    (call,) = stripe_fake.calls("POST", "/v1/billing_portal/sessions")
    assert call.form == {"customer": subscribed["customer"], "return_url": return_url}
    assert call.headers["idempotency-key"]


def test_portal_return_url_off_the_allowed_origins_is_422(stripe_fake, subscribed, as_user):
    response = as_user.get(f"{BILLING}/portal", {"return_url": "https://evil.example.com/"})

    assert error_of(response, 422)["details"]["field"] == "return_url"


def test_portal_without_stripe_is_503(as_user):
    assert as_user.get(f"{BILLING}/portal").status_code == 503


# --- cancel and resume -----------------------------------------------------------------------


def test_cancel_at_period_end_keeps_the_plan_until_then(stripe_fake, subscribed, as_user):
    response = as_user.post(f"{BILLING}/cancel")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["cancel_at_period_end"] is True
    assert body["current_period_end"].endswith("Z")
    assert body["message"]
    (call,) = stripe_fake.calls("POST", f"/v1/subscriptions/{subscribed['id']}")
    assert call.form["cancel_at_period_end"] == "true"
    assert call.headers["idempotency-key"]
    status = as_user.get(f"{BILLING}/status").json()
    assert (status["plan"], status["status"], status["cancel_at_period_end"]) == (
        "pro",
        "active",
        True,
    )


def test_immediate_cancel_ends_the_plan_now(stripe_fake, subscribed, as_user):
    response = as_user.post(f"{BILLING}/cancel?immediate=true")

    assert response.status_code == 200, response.content
    assert stripe_fake.calls("DELETE", f"/v1/subscriptions/{subscribed['id']}")
    assert Entitlement.objects.get(source="stripe").status == "canceled"
    assert as_user.get(f"{BILLING}/status").json()["plan"] == "free"


def test_cancel_without_a_subscription_is_400(stripe_fake, as_user):
    assert error_of(as_user.post(f"{BILLING}/cancel"), 400)["details"]["reason"] == (
        "no_subscription"
    )


def test_resume_turns_renewal_back_on(stripe_fake, subscribed, as_user):
    as_user.post(f"{BILLING}/cancel")

    response = as_user.post(f"{BILLING}/resume")

    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["plan"]) == ("active", "pro")
    assert body["message"]
    assert stripe_fake.get("subscriptions", subscribed["id"])["cancel_at_period_end"] is False
    assert as_user.get(f"{BILLING}/status").json()["cancel_at_period_end"] is False


def test_resume_of_a_renewing_subscription_is_400(stripe_fake, subscribed, as_user):
    assert error_of(as_user.post(f"{BILLING}/resume"), 400)["details"]["reason"] == (
        "not_canceling"
    )


def test_cancel_resume_cancel_are_three_intents_not_retries(stripe_fake, subscribed, as_user):
    for path in ("cancel", "resume", "cancel"):
        assert as_user.post(f"{BILLING}/{path}").status_code == 200

    calls = stripe_fake.calls("POST", f"/v1/subscriptions/{subscribed['id']}")
    assert len({call.headers["idempotency-key"] for call in calls}) == 3
    assert stripe_fake.get("subscriptions", subscribed["id"])["cancel_at_period_end"] is True
    assert Entitlement.objects.get(source="stripe").cancel_at_period_end is True


def test_cancel_while_stripe_fails_changes_nothing(stripe_fake, subscribed, as_user):
    stripe_fake.fail(503)

    assert error_of(as_user.post(f"{BILLING}/cancel"), 502)["details"]["service"] == "stripe"
    assert Entitlement.objects.get(source="stripe").cancel_at_period_end is False


def test_a_lapsed_subscription_cannot_be_canceled(stripe_fake, subscribed, as_user):
    Entitlement.objects.filter(source="stripe").update(
        current_period_end=timezone.now() - timedelta(days=3)
    )

    assert as_user.post(f"{BILLING}/cancel").status_code == 400


def test_schema_documents_the_stripe_endpoints(api):
    paths = api.get("/api/v1/openapi.json").json()["paths"]

    checkout = paths[f"{BILLING}/checkout"]["post"]
    assert {"200", "400", "409", "422", "502", "503", "504"} <= set(checkout["responses"])
    assert "Idempotency-Key" in [p["name"] for p in checkout["parameters"]]
    invoices = paths[f"{BILLING}/invoices"]["get"]
    assert invoices["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "array"
    assert [p["name"] for p in invoices["parameters"]] == ["limit"]
    assert "immediate" in [p["name"] for p in paths[f"{BILLING}/cancel"]["post"]["parameters"]]
    assert "return_url" in [p["name"] for p in paths[f"{BILLING}/portal"]["get"]["parameters"]]
    assert {"200", "400", "503"} <= set(
        paths["/api/v1/public/webhooks/stripe"]["post"]["responses"]
    )
    assert f"{BILLING}/resume" in paths
