"""GET /api/v1/app/usage/summary: counts before and after the flush, the period, the limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from billing.models import Entitlement
from billing.services import user_sync_subscription
from tests.billing.factories import EntitlementFactory
from tests.factories import UserFactory
from tests.files.flow import error_of
from tests.usage.conftest import SUMMARY_URL, flush, metrics, summary
from usage.models import UsageCounter
from usage.selectors import usage_summary
from usage.services import METRICS, usage_record

pytestmark = pytest.mark.django_db

ALL_METRICS = {*METRICS, "storage_bytes"}


def today() -> datetime:
    return timezone.now()


def test_the_summary_has_every_metric_and_limit(api, user):
    body = summary(api.as_user(user))

    assert set(body) == {"period_start", "period_end", "metrics", "limits"}
    # A request counts as it is admitted: this summary request is the user's first.
    assert body["metrics"] == {**dict.fromkeys(ALL_METRICS, 0), "api_requests": 1}
    assert body["limits"] == {
        "plan": "free",
        "ai_tokens_per_month": 100_000,
        "storage_bytes": 1024**3,
        "rate_limit": "60/minute",
    }


def test_counts_show_before_the_flush_and_are_not_doubled_after_it(api, user, other_user):
    client = api.as_user(user)
    usage_record(user_id=user.pk, metric="ai_tokens", amount=120)
    usage_record(user_id=user.pk, metric="ai_requests")
    usage_record(user_id=other_user.pk, metric="ai_tokens", amount=999)

    before = metrics(client)
    added = flush()
    after = metrics(client)

    assert (before["ai_tokens"], before["ai_requests"]) == (120, 1)
    assert added >= 3
    assert (after["ai_tokens"], after["ai_requests"]) == (120, 1)
    rows = UsageCounter.objects.filter(user=user, metric="ai_tokens")
    assert [(row.day, row.value) for row in rows] == [(today().date(), 120)]


def test_counts_after_a_flush_add_to_the_stored_ones(api, user):
    client = api.as_user(user)
    usage_record(user_id=user.pk, metric="emails_sent", amount=2)
    flush()
    usage_record(user_id=user.pk, metric="emails_sent", amount=3)

    assert metrics(client)["emails_sent"] == 5
    flush()
    assert metrics(client)["emails_sent"] == 5
    assert UsageCounter.objects.get(user=user, metric="emails_sent").value == 5
    assert flush() == 0 or UsageCounter.objects.get(user=user, metric="emails_sent").value == 5


def test_api_requests_count_authenticated_app_requests(api, user):
    client = api.as_user(user)
    for _ in range(3):
        assert client.get("/api/v1/app/users/me").status_code == 200
    client.get("/api/v1/app/projects/not-a-project")  # 404: still a request the user made

    first = metrics(client)["api_requests"]
    second = metrics(client)["api_requests"]

    assert first == 5  # a request counts as it is admitted: the summary request counts itself
    assert second == 6


def test_public_anonymous_and_rejected_requests_are_not_counted(api, user):
    anonymous = type(api)()
    assert anonymous.get("/api/v1/public/health").status_code == 200
    assert anonymous.get("/api/v1/app/users/me").status_code == 401
    assert anonymous.with_token("not-a-jwt").get("/api/v1/app/users/me").status_code == 401
    assert anonymous.get("/api/v1/app/no-such-endpoint").status_code in (401, 404)

    assert UsageCounter.objects.count() == 0
    assert metrics(api.as_user(user))["api_requests"] == 1  # the summary request alone


def test_a_deactivated_users_requests_are_not_counted(api, user):
    client = api.as_user(user)
    user.is_active = False
    user.save()

    assert client.get("/api/v1/app/users/me").status_code == 403

    user.is_active = True
    user.save()
    assert metrics(client)["api_requests"] == 1  # the summary request alone


def test_each_request_is_counted_once(api, user):
    client = api.as_user(user)
    assert client.get("/api/v1/app/users/me").status_code == 200
    assert client.get("/api/v1/app/projects").status_code == 200

    assert metrics(client)["api_requests"] == 3
    flush()
    assert UsageCounter.objects.get(user=user, metric="api_requests").value == 3


def test_a_view_with_limits_of_its_own_is_counted_after_its_response(api, user):
    """The AI views name their own rate limits: the middleware counts their requests."""
    client = api.as_user(user)
    assert client.get("/api/v1/app/ai/status").status_code == 200

    assert metrics(client)["api_requests"] == 2
    flush()
    assert UsageCounter.objects.get(user=user, metric="api_requests").value == 2


@pytest.mark.parametrize("days", ["0", "366", "-1", "abc", "1.5"])
def test_days_out_of_range_or_not_an_integer_is_422(api, user, days):
    response = api.as_user(user).get(SUMMARY_URL, {"days": days})

    error = error_of(response, 422, "VALIDATION_ERROR")
    assert error["details"]["field"] == "days"


def test_the_period_runs_from_midnight_utc_days_minus_one_ago_until_now(api, user):
    before = timezone.now()
    body = summary(api.as_user(user), days=7)
    after = timezone.now()

    start = datetime.fromisoformat(body["period_start"].replace("Z", "+00:00"))
    end = datetime.fromisoformat(body["period_end"].replace("Z", "+00:00"))
    assert body["period_start"].endswith("Z") and body["period_end"].endswith("Z")
    assert before <= end <= after
    assert start == datetime.combine(
        end.date() - timedelta(days=6), datetime.min.time(), tzinfo=UTC
    )
    default = summary(api.as_user(user))
    default_start = datetime.fromisoformat(default["period_start"].replace("Z", "+00:00"))
    assert default_start.date() == end.date() - timedelta(days=29)


@pytest.mark.parametrize("days", [1, 2, 30, 365])
def test_the_window_includes_its_first_day_and_not_the_day_before(api, user, days):
    day = today().date()
    UsageCounter.objects.create(user=user, metric="ai_tokens", day=day, value=1)
    UsageCounter.objects.create(
        user=user, metric="ai_tokens", day=day - timedelta(days=days - 1), value=10
    ) if days > 1 else None
    UsageCounter.objects.create(
        user=user, metric="ai_tokens", day=day - timedelta(days=days), value=100
    )

    assert metrics(api.as_user(user), days=days)["ai_tokens"] == (1 if days == 1 else 11)


def test_only_the_users_own_counts_are_shown(api, user, other_user):
    UsageCounter.objects.create(user=other_user, metric="ai_requests", day=today(), value=7)
    usage_record(user_id=other_user.pk, metric="ai_requests", amount=5)

    assert metrics(api.as_user(user))["ai_requests"] == 0
    assert metrics(api.as_user(other_user))["ai_requests"] == 12


@pytest.mark.parametrize(
    ("plan", "tokens", "rate"),
    [("pro", 2_000_000, "300/minute"), ("enterprise", 20_000_000, "1000/minute")],
)
def test_the_limits_are_those_of_the_users_plan(api, user, plan, tokens, rate):
    EntitlementFactory(user=user, plan=plan)
    user_sync_subscription(user=user)

    limits = summary(api.as_user(user))["limits"]

    assert limits["plan"] == plan
    assert limits["ai_tokens_per_month"] == tokens
    assert limits["rate_limit"] == rate


def test_a_lapsed_entitlement_gives_the_free_limits(api, user):
    EntitlementFactory(user=user, status=Entitlement.Status.EXPIRED)
    user_sync_subscription(user=user)

    assert summary(api.as_user(user))["limits"]["plan"] == "free"


def test_the_summary_runs_a_fixed_number_of_queries(user, django_assert_max_num_queries):
    for offset in range(60):
        for metric in METRICS:
            UsageCounter.objects.create(
                user=user, metric=metric, day=today() - timedelta(days=offset), value=offset
            )
    for metric in METRICS:
        usage_record(user_id=user.pk, metric=metric, amount=3)
    for other in UserFactory.create_batch(5):
        usage_record(user_id=other.pk, metric="ai_tokens", amount=1)

    with django_assert_max_num_queries(4):
        result = usage_summary(user=user, days=365)

    assert result.metrics["ai_tokens"] == sum(range(60)) + 3


def test_the_endpoint_runs_a_fixed_number_of_queries(api, user, django_assert_max_num_queries):
    client = api.as_user(user)
    for offset in range(90):
        UsageCounter.objects.create(
            user=user, metric="ai_tokens", day=today() - timedelta(days=offset), value=1
        )
    usage_record(user_id=user.pk, metric="ai_tokens", amount=1)
    client.get("/api/v1/app/users/me")  # the user exists and has signed in

    # The user (unless cached), the counters, the stored bytes, the plan, flushed batches.
    with django_assert_max_num_queries(5):
        response = client.get(SUMMARY_URL, {"days": 365})

    assert response.json()["metrics"]["ai_tokens"] == 91


def test_the_schema_documents_the_summary(api):
    schema = api.get("/api/v1/openapi.json").json()

    operation = schema["paths"]["/api/v1/app/usage/summary"]["get"]
    assert operation["operationId"] == "usage_summary_retrieve"
    assert operation["tags"] == ["usage"]
    assert {"200", "422"} <= set(operation["responses"])
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    assert parameters["days"]["schema"]["minimum"] == 1
    assert parameters["days"]["schema"]["maximum"] == 365
    components = schema["components"]["schemas"]
    assert set(components["UsageMetricsOutput"]["properties"]) == ALL_METRICS
    assert set(components["UsageLimitsOutput"]["properties"]) == {
        "plan",
        "ai_tokens_per_month",
        "storage_bytes",
        "rate_limit",
    }
