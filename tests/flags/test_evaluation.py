"""How a flag is evaluated for a user: `flag_is_active(key, user)` and `flags_for_user(user)`."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from freezegun import freeze_time

from accounts.models import User
from flags.models import Flag
from flags.selectors import flag_is_active, flags_for_user, user_bucket
from flags.services import flag_save

pytestmark = pytest.mark.django_db


def people(count: int, *, plan: str = "free") -> list[User]:
    """Users as authentication hands them to the code (no rows needed to evaluate a flag)."""
    return [User(id=f"auth0|person-{n}", subscription_plan=plan) for n in range(count)]


def share_on(key: str, users: list[User]) -> float:
    return sum(flag_is_active(key, user) for user in users) / len(users)


def test_on_for_everyone_is_on_for_every_caller_signed_in_or_not(user):
    Flag.objects.create(key="banner", everyone=Flag.Everyone.ON)

    assert flag_is_active("banner", user)
    assert flag_is_active("banner", AnonymousUser())
    assert flag_is_active("banner", None)


def test_off_for_everyone_beats_every_rule(user):
    flag = Flag.objects.create(
        key="kill-switch", everyone=Flag.Everyone.OFF, percent=100, plans=["free"]
    )
    flag.users.add(user)

    assert not flag_is_active("kill-switch", user)
    assert flags_for_user(user) == {"kill-switch": False}


def test_listed_users_get_the_flag_and_nobody_else(user, other_user):
    Flag.objects.create(key="beta").users.add(user)

    assert flag_is_active("beta", user)
    assert not flag_is_active("beta", other_user)


def test_users_on_a_listed_plan_get_the_flag():
    Flag.objects.create(key="big-uploads", plans=["pro", "enterprise"])

    assert flag_is_active("big-uploads", User(id="a", subscription_plan="pro"))
    assert flag_is_active("big-uploads", User(id="b", subscription_plan="enterprise"))
    assert not flag_is_active("big-uploads", User(id="c", subscription_plan="free"))


def test_rules_never_match_a_caller_who_is_not_signed_in():
    Flag.objects.create(key="rollout", percent=100, plans=["free"])

    assert not flag_is_active("rollout", AnonymousUser())
    assert flags_for_user(AnonymousUser()) == {"rollout": False}


def test_a_percentage_reaches_about_that_share_of_users():
    crowd = people(2000)
    Flag.objects.create(key="quarter", percent=25)
    Flag.objects.create(key="nobody", percent=0)
    Flag.objects.create(key="all", percent=100)

    assert 0.22 <= share_on("quarter", crowd) <= 0.28
    assert share_on("nobody", crowd) == 0
    assert share_on("all", crowd) == 1


def test_a_fraction_of_a_percent_is_honoured():
    Flag.objects.create(key="canary", percent=Decimal("0.5"))

    assert 0.002 <= share_on("canary", people(10_000)) <= 0.009


def test_the_same_user_always_gets_the_same_answer_and_raising_the_share_only_adds_users(
    django_capture_on_commit_callbacks,
):
    crowd = people(2000)
    flag = Flag.objects.create(key="editor", percent=30)
    first = {user.pk for user in crowd if flag_is_active("editor", user)}
    again = {user.pk for user in people(2000) if flag_is_active("editor", user)}

    flag.percent = Decimal(60)
    with django_capture_on_commit_callbacks(execute=True):
        flag_save(flag=flag)
    wider = {user.pk for user in crowd if flag_is_active("editor", user)}

    assert first == again
    assert first < wider
    assert 0.56 <= len(wider) / len(crowd) <= 0.64


def test_buckets_are_pinned_so_a_release_never_reshuffles_users():
    # sha256("new-editor:auth0|person-1"), first 8 bytes, modulo 10,000.
    assert user_bucket("new-editor", "auth0|person-1") == 5701
    assert user_bucket("new-editor", "auth0|person-2") != user_bucket("other", "auth0|person-2")


def test_each_key_picks_its_own_users():
    crowd = people(2000)
    Flag.objects.create(key="left", percent=50)
    Flag.objects.create(key="right", percent=50)

    left = {user.pk for user in crowd if flag_is_active("left", user)}
    right = {user.pk for user in crowd if flag_is_active("right", user)}

    assert left != right
    assert 0.2 <= len(left & right) / len(crowd) <= 0.3


def test_an_expired_flag_is_off_for_everyone_and_not_listed(user):
    Flag.objects.create(
        key="promo", everyone=Flag.Everyone.ON, expires_at=timezone.now() + timedelta(hours=1)
    )
    Flag.objects.create(key="stays", everyone=Flag.Everyone.ON)

    assert flags_for_user(user) == {"promo": True, "stays": True}
    with freeze_time(timezone.now() + timedelta(hours=2)):
        assert not flag_is_active("promo", user)
        assert flags_for_user(user) == {"stays": True}


def test_a_flag_created_already_expired_is_never_listed(user):
    Flag.objects.create(
        key="old", everyone=Flag.Everyone.ON, expires_at=timezone.now() - timedelta(seconds=1)
    )

    assert flags_for_user(user) == {}
    assert not flag_is_active("old", user)


def test_an_unknown_key_is_off(user):
    Flag.objects.create(key="known", everyone=Flag.Everyone.ON)

    assert not flag_is_active("unknown", user)
    assert not flag_is_active("unknown", AnonymousUser())


def test_flags_are_listed_by_key(user):
    for key in ("zeta", "alpha", "mid"):
        Flag.objects.create(key=key)

    assert list(flags_for_user(user)) == ["alpha", "mid", "zeta"]
