"""The sync services on their own: normalisation, ordering, erased and deactivated users."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from accounts.models import User
from accounts.services import (
    identity_profile,
    user_delete_from_identity,
    user_erase,
    user_sync_from_identity,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def sync(user_id: str = "idp|1", *, synced_at: datetime | None = T0, **fields: str | None):
    profile: dict[str, Any] = {
        "email": "a@example.com",
        "full_name": "A",
        "avatar_url": None,
        **fields,
    }
    return user_sync_from_identity(user_id=user_id, synced_at=synced_at, **profile)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            {"email": " Ada@Example.COM ", "full_name": " Ada ", "avatar_url": "https://x.io/a"},
            {"email": "ada@example.com", "full_name": "Ada", "avatar_url": "https://x.io/a"},
        ),
        (
            {"email": None, "full_name": None, "avatar_url": None},
            {"email": "", "full_name": None, "avatar_url": None},
        ),
        (
            {"email": "nope", "full_name": "   ", "avatar_url": "ftp//bad"},
            {"email": "", "full_name": None, "avatar_url": None},
        ),
        (
            {"email": "a@b.co", "full_name": "x" * 300, "avatar_url": "https://x.io/" + "a" * 2048},
            {"email": "a@b.co", "full_name": "x" * 255, "avatar_url": None},
        ),
    ],
)
def test_identity_profile_normalises_the_providers_values(given, expected):
    assert identity_profile(**given) == expected


def test_create_then_update_then_unchanged():
    assert sync() == "created"
    assert sync(full_name="B", synced_at=T0 + timedelta(seconds=1)) == "updated"
    assert sync(full_name="B", synced_at=T0 + timedelta(seconds=1)) == "unchanged"
    user = User.objects.get(pk="idp|1")
    assert (user.full_name, user.identity_synced_at) == ("B", T0 + timedelta(seconds=1))


def test_an_older_copy_is_stale_and_an_equal_one_is_applied():
    sync(synced_at=T0)

    assert sync(full_name="Old", synced_at=T0 - timedelta(milliseconds=1)) == "stale"
    assert sync(full_name="Same time", synced_at=T0) == "updated"
    assert User.objects.get(pk="idp|1").full_name == "Same time"


def test_a_copy_without_update_time_is_applied_and_keeps_the_mark():
    sync(synced_at=T0)

    assert sync(full_name="Undated", synced_at=None) == "updated"

    user = User.objects.get(pk="idp|1")
    assert (user.full_name, user.identity_synced_at) == ("Undated", T0)


def test_an_erased_user_is_never_written_again():
    sync()
    User.objects.filter(pk="idp|1").update(is_active=False)
    user_erase(user_id="idp|1")

    assert sync(synced_at=T0 + timedelta(days=1)) == "erased"

    user = User.objects.get(pk="idp|1")
    assert (user.is_active, user.email, user.full_name) == (False, "", None)


def test_delete_is_idempotent_and_a_no_op_for_unknown_users(django_capture_on_commit_callbacks):
    assert user_delete_from_identity(user_id="idp|unknown") is False
    assert not User.objects.exists()

    sync()
    with django_capture_on_commit_callbacks(execute=True):
        assert user_delete_from_identity(user_id="idp|1") is True
    with django_capture_on_commit_callbacks(execute=True):
        assert user_delete_from_identity(user_id="idp|1") is True

    user = User.objects.get(pk="idp|1")
    assert not user.is_active
    assert user.erased_at is not None
