"""Authenticated requests read the user from a short-lived cache that changes invalidate."""

from __future__ import annotations

import pytest

from accounts.models import User
from tests.factories import UserFactory

ME = "/api/v1/app/users/me"

pytestmark = pytest.mark.django_db


def test_steady_state_requests_need_no_sql(api, user, django_assert_num_queries):
    client = api.as_user(user)
    client.get(ME)  # records the login (and forgets the cached copy)
    client.get(ME)  # reads and caches the user

    with django_assert_num_queries(0):
        response = client.get(ME)

    assert response.status_code == 200


def test_deactivation_from_the_admin_is_seen_by_the_next_request(api, client, staff, user):
    api.as_user(user)
    for _ in range(3):
        assert api.get(ME).status_code == 200

    client.post(
        "/admin/accounts/user/", {"action": "deactivate_users", "_selected_action": [user.pk]}
    )

    assert api.get(ME).status_code == 403


def test_changes_saved_through_the_model_are_seen_at_once(api, user):
    api.as_user(user)
    for _ in range(3):
        api.get(ME)

    user.role = User.Role.ADMIN
    user.save()

    assert api.get(ME).json()["role"] == "admin"


def test_profile_update_is_seen_by_the_next_request(api, user):
    client = api.as_user(user)
    for _ in range(3):
        client.get(ME)

    client.patch(ME, {"full_name": "Renamed"})

    assert client.get(ME).json()["full_name"] == "Renamed"


def test_requests_are_served_from_the_database_when_the_cache_is_down(api, settings):
    user = UserFactory()
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }

    statuses = [api.as_user(user).get(ME).status_code for _ in range(3)]

    assert statuses == [200, 200, 200]


def test_users_deleted_in_bulk_from_the_admin_are_forgotten(api, client, staff, user):
    api.as_user(user)
    for _ in range(3):
        api.get(ME)

    client.post(
        "/admin/accounts/user/",
        {"action": "delete_selected", "_selected_action": [user.pk], "post": "yes"},
    )

    assert not User.objects.filter(pk=user.pk).exists()
    response = api.get(ME)  # a new user is made from the token, not the cached ghost
    assert response.status_code == 200
    assert User.objects.filter(pk=user.pk).exists()


def _warm(api, user):
    """Sign in a few times, so the user is certainly in the cache."""
    for _ in range(3):
        assert api.as_user(user).get(ME).status_code == 200


def test_a_queryset_update_is_seen_by_the_next_request(api, user):
    _warm(api, user)

    User.objects.filter(email=user.email).update(is_active=False)

    assert api.as_user(user).get(ME).status_code == 403


def test_a_bulk_update_is_seen_by_the_next_request(api, user):
    _warm(api, user)
    user.subscription_plan = "pro"

    User.objects.bulk_update([user], ["subscription_plan"])

    assert api.as_user(user).get(ME).json()["subscription_plan"] == "pro"


def test_a_plan_change_from_billing_is_seen_by_the_next_request(api, user, staff):
    from billing.services import entitlement_grant_manual

    _warm(api, user)

    entitlement_grant_manual(user=user, plan="pro", granted_by=staff)

    assert api.as_user(user).get(ME).json()["subscription_plan"] == "pro"


def test_erasure_is_seen_by_the_next_request(api, user, django_capture_on_commit_callbacks):
    _warm(api, user)

    with django_capture_on_commit_callbacks(execute=True):
        assert api.as_user(user).delete(ME).status_code == 204

    assert api.as_user(user).get(ME).status_code == 403
    assert User.objects.get(pk=user.pk).erased_at is not None


def test_a_deleted_user_is_not_served_from_the_cache(api, user):
    _warm(api, user)

    User.objects.filter(pk=user.pk).delete()

    # The token's subject is unknown again: the user is created anew from the token's claims.
    assert api.as_user(user).get(ME).status_code == 200
    assert User.objects.filter(pk=user.pk).exists()


def test_the_cached_user_is_the_row_as_read_from_the_database(user):
    from datetime import UTC, datetime

    from accounts.user_cache import cached_user, remember_user

    User.objects.filter(pk=user.pk).update(
        avatar_url="https://example.com/a.png",
        subscription_plan="pro",
        last_login_at=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        login_count=7,
        identity_synced_at=datetime(2026, 1, 1, tzinfo=UTC),
    )
    stored = User.objects.get(pk=user.pk)
    remember_user(stored)

    cached = cached_user(user.pk)

    assert cached is not None and not cached._state.adding
    columns = [field.attname for field in User._meta.concrete_fields]
    assert [getattr(cached, name) for name in columns] == [
        getattr(stored, name) for name in columns
    ]
    cached.full_name = "Saved from the cache"
    cached.save()
    assert User.objects.get(pk=user.pk).full_name == "Saved from the cache"


def test_an_entry_of_another_layout_is_read_from_the_database(api, user):
    """A deploy that changes the columns (or the entry's format) never serves a stale shape."""
    from django.core.cache import cache

    from accounts.user_cache import user_cache_key

    _warm(api, user)
    ghost = User(pk=user.pk, email=user.email, full_name="From an older release")
    cache.set(user_cache_key(user.pk), ghost)  # a pickled model, as entries once were
    assert api.as_user(user).get(ME).json()["full_name"] == user.full_name

    cache.set(user_cache_key(user.pk), b'["user:id,email", "x", "y"]')
    assert api.as_user(user).get(ME).json()["full_name"] == user.full_name


def test_a_change_also_forgets_the_previous_releases_entry(user):
    """While a deploy rolls out, the previous release's processes cache the user as a pickled
    model under `user:<id>`: a change made by this release reaches them at once too."""
    from django.core.cache import cache

    cache.set(f"user:{user.pk}", user)

    user.full_name = "Changed"
    user.save()

    assert cache.get(f"user:{user.pk}") is None
