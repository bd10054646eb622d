"""The staff console's usage counters: a read-only list with filters and search."""

from __future__ import annotations

import pytest
from django.utils import timezone

from usage.models import UsageCounter

pytestmark = pytest.mark.django_db

LIST_URL = "/admin/usage/usagecounter/"


def test_staff_list_filter_and_search_counters(client, staff, user, other_user):
    today = timezone.now().date()
    UsageCounter.objects.create(user=user, metric="ai_tokens", day=today, value=1234)
    UsageCounter.objects.create(user=other_user, metric="api_requests", day=today, value=5678)

    page = client.get(LIST_URL)
    filtered = client.get(LIST_URL, {"metric": "ai_tokens"})
    searched = client.get(LIST_URL, {"q": other_user.email})

    assert page.status_code == 200
    assert b"1234" in page.content and b"5678" in page.content
    assert b"1234" in filtered.content and b"5678" not in filtered.content
    assert b"5678" in searched.content and b"1234" not in searched.content


def test_counters_cannot_be_added_changed_or_deleted(client, staff, user):
    counter = UsageCounter.objects.create(
        user=user, metric="ai_tokens", day=timezone.now().date(), value=1
    )

    assert client.get(f"{LIST_URL}add/").status_code == 403
    assert client.post(f"{LIST_URL}{counter.pk}/change/", {"value": 999}).status_code == 403
    assert client.post(f"{LIST_URL}{counter.pk}/delete/", {"post": "yes"}).status_code == 403
    counter.refresh_from_db()
    assert counter.value == 1
