"""Staff read every AI call and each user's totals for the month in the admin."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from ai.models import AIUsage
from ai.selectors import month_start
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CALLS = "/admin/ai/aiusage/"
PER_USER = "/admin/ai/aiuserusage/"


def _row(user, **fields):
    values = {"endpoint": "chat", "provider": "echo", "model": "echo-1", **fields}
    return AIUsage.objects.create(user=user, **values)


def test_calls_list_filters_and_searches(client, staff, user, other_user):
    _row(user, provider="openai", model="gpt-4o-mini", total_tokens=42)
    _row(other_user, provider="anthropic", model="claude-x", success=False, error_code="X_ERR")

    everything = client.get(CALLS)
    openai_only = client.get(CALLS, {"provider": "openai"})
    failed = client.get(CALLS, {"success__exact": "0"})
    by_email = client.get(CALLS, {"q": other_user.email})

    assert everything.status_code == 200
    assert b"gpt-4o-mini" in everything.content and b"claude-x" in everything.content
    assert _models(everything) == {"gpt-4o-mini", "claude-x"}
    assert _models(openai_only) == {"gpt-4o-mini"}
    assert _models(failed) == {"claude-x"}
    assert _models(by_email) == {"claude-x"}


def _models(response):
    assert response.status_code == 200
    return {row.model for row in response.context["cl"].result_list}


def test_calls_are_read_only(client, staff, user):
    row = _row(user)

    assert client.get(f"{CALLS}add/").status_code == 403
    assert client.get(f"{CALLS}{row.pk}/change/").status_code == 200  # a view, no form
    assert client.post(f"{CALLS}{row.pk}/delete/").status_code == 403
    assert AIUsage.objects.filter(pk=row.pk).exists()


def test_per_user_totals_of_this_month(client, staff, user, other_user):
    _row(user, total_tokens=300, cost_estimate=Decimal("0.5"))
    _row(user, total_tokens=200, cost_estimate=Decimal("0.25"), success=False)
    old = _row(other_user, total_tokens=9999)
    AIUsage.objects.filter(pk=old.pk).update(created_at=month_start() - timedelta(days=1))

    response = client.get(PER_USER)

    assert response.status_code == 200
    page = response.content.decode()
    assert user.email in page and other_user.email not in page
    row = next(item for item in response.context["cl"].result_list if item.pk == user.pk)
    assert (row.ai_requests, row.ai_failures, row.ai_tokens) == (2, 1, 500)
    assert row.ai_cost == Decimal("0.75")
    assert "0.5%" in page  # 500 of the free plan's 100,000
    assert f"?q={user.pk}".replace("|", "%7C") in page


def test_per_user_totals_run_constant_queries(client, staff, django_assert_max_num_queries):
    for _ in range(30):
        _row(UserFactory(), total_tokens=10)

    with django_assert_max_num_queries(8):
        response = client.get(PER_USER)

    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 30
