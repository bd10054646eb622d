"""Entitlement writes racing each other on PostgreSQL (one connection per thread)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import User
from billing.models import Entitlement
from billing.services import entitlement_upsert
from config.errors import ConflictError
from tests.factories import UserFactory

pytestmark = pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="needs PostgreSQL (row locks across connections)",
)


def race(calls: list[Callable[[], None]]) -> list[str]:
    """Run the calls at the same moment in threads; each outcome is "ok" or the error's code."""
    barrier = threading.Barrier(len(calls))
    outcomes: list[str] = []

    def run(call: Callable[[], None]) -> None:
        try:
            barrier.wait()
            call()
            outcomes.append("ok")
        except ConflictError as error:
            outcomes.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


def claim(user: User, status: str = "active") -> Callable[[], None]:
    def call() -> None:
        entitlement_upsert(
            user=user,
            source="apple",
            external_id="2000000555",
            product_id="com.example.pro",
            plan="pro",
            status=status,
        )

    return call


def test_one_purchase_claimed_by_several_users_at_once_goes_to_one(transactional_db):
    users = UserFactory.create_batch(10)

    outcomes = race([claim(user) for user in users])

    assert outcomes == ["CONFLICT"] * 9 + ["ok"]
    owner = Entitlement.objects.get().user
    assert owner.subscription_plan == "pro"
    others = User.objects.filter(pk__in=[u.pk for u in users]).exclude(pk=owner.pk)
    assert set(others.values_list("subscription_plan", flat=True)) == {"free"}


def test_one_user_reporting_a_purchase_several_times_at_once_keeps_one_row(transactional_db):
    user = UserFactory()

    outcomes = race([claim(user, status) for status in ("active", "trialing", "active")])

    assert outcomes == ["ok", "ok", "ok"]
    entitlement = Entitlement.objects.get()
    user.refresh_from_db()
    assert (user.subscription_plan, user.subscription_status) == ("pro", entitlement.status)
