"""GET /api/v1/app/billing/plans and the billing operations in the OpenAPI schema."""

from __future__ import annotations

import pytest

PLANS_URL = "/api/v1/app/billing/plans"

pytestmark = pytest.mark.django_db


def test_plans_lists_pro_monthly_and_yearly_with_prices_and_limits(api, user):
    response = api.as_user(user).get(PLANS_URL)

    assert response.status_code == 200
    plans = response.json()
    assert [plan["id"] for plan in plans] == ["pro_monthly", "pro_yearly"]
    monthly, yearly = plans
    assert monthly == {
        "id": "pro_monthly",
        "plan": "pro",
        "name": "Pro",
        "interval": "month",
        "amount": 1900,
        "currency": "usd",
        "limits": {
            "ai_tokens_per_month": 2_000_000,
            "storage_bytes": 50 * 1024**3,
            "rate_limit": "300/minute",
        },
    }
    assert (yearly["interval"], yearly["amount"]) == ("year", 19000)


def test_plans_follow_the_settings(api, user, settings):
    settings.BILLING_CURRENCY = "eur"
    settings.BILLING_PLANS = {
        **settings.BILLING_PLANS,
        "pro": {**settings.BILLING_PLANS["pro"], "prices": {"month": 990}},
        "enterprise": {**settings.BILLING_PLANS["enterprise"], "prices": {"year": 500_000}},
    }

    plans = api.as_user(user).get(PLANS_URL).json()

    assert [(p["id"], p["amount"], p["currency"]) for p in plans] == [
        ("pro_monthly", 990, "eur"),
        ("enterprise_yearly", 500_000, "eur"),
    ]


def test_plans_run_no_query_beyond_authentication(api, user, django_assert_max_num_queries):
    client = api.as_user(user)
    client.get(PLANS_URL)  # records the login
    client.get(PLANS_URL)  # caches the user

    with django_assert_max_num_queries(0):
        response = client.get(PLANS_URL)

    assert response.status_code == 200


def test_plans_require_a_token(api):
    assert api.get(PLANS_URL).status_code == 401


def test_schema_documents_the_billing_endpoints(api):
    schema = api.get("/api/v1/openapi.json").json()

    status = schema["paths"]["/api/v1/app/billing/status"]["get"]
    plans = schema["paths"]["/api/v1/app/billing/plans"]["get"]
    assert status["tags"] == plans["tags"] == ["billing"]
    assert status["operationId"] == "billing_status_retrieve"
    assert plans["operationId"] == "billing_plans_list"
    assert {"200", "401", "403", "429"} <= set(status["responses"])
    body = plans["responses"]["200"]["content"]["application/json"]["schema"]
    assert body["type"] == "array"
    assert body["items"]["$ref"].endswith("/PlanOfferOutput")
    components = schema["components"]["schemas"]
    assert set(components["BillingStatusOutput"]["properties"]) == {
        "plan",
        "status",
        "source",
        "current_period_end",
        "cancel_at_period_end",
        "has_active_subscription",
    }
    assert set(components["PlanOfferOutput"]["properties"]) == {
        "id",
        "plan",
        "name",
        "interval",
        "amount",
        "currency",
        "limits",
    }
