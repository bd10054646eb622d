"""The identity providers' webhooks record whether the user's email is verified; an unverified
one gets no mail (issue 12, finding 13)."""

from __future__ import annotations

import pytest

from accounts.models import User
from notifications.models import EmailMessage
from tests.accounts.identity.conftest import (
    clerk_event,
    clerk_user,
    supabase_user,
    supabase_webhook,
)

pytestmark = pytest.mark.django_db


def unverified_clerk_user(user_id: str) -> dict:
    data = clerk_user(user_id, emails=("pending@example.com",))
    data["email_addresses"][0]["verification"] = {"status": "unverified", "strategy": "email_code"}
    return data


def test_a_clerk_user_with_an_unverified_email_gets_no_welcome(send_clerk):
    response = send_clerk(clerk_event("user.created", unverified_clerk_user("user_pending")))

    assert response.status_code == 200, response.content
    user = User.objects.get(pk="user_pending")
    assert (user.email, user.email_verified) == ("pending@example.com", False)
    assert not EmailMessage.objects.filter(to="pending@example.com").exists()


def test_a_clerk_verification_later_marks_the_email_verified(send_clerk):
    send_clerk(clerk_event("user.created", unverified_clerk_user("user_later")))

    send_clerk(
        clerk_event("user.updated", clerk_user("user_later", emails=("pending@example.com",)))
    )

    assert User.objects.get(pk="user_later").email_verified is True


def test_a_supabase_user_without_a_confirmed_email_gets_no_welcome(send_supabase):
    row = {**supabase_user(email="unconfirmed@example.com"), "email_confirmed_at": None}

    response = send_supabase(supabase_webhook("INSERT", row))

    assert response.status_code == 200, response.content
    user = User.objects.get(pk=row["id"])
    assert (user.email, user.email_verified) == ("unconfirmed@example.com", False)
    assert not EmailMessage.objects.filter(to="unconfirmed@example.com").exists()


def test_a_supabase_confirmed_email_is_welcomed(send_supabase):
    row = {
        **supabase_user(email="confirmed@example.com"),
        "email_confirmed_at": "2025-01-02T10:00:00.000000+00:00",
    }

    send_supabase(supabase_webhook("INSERT", row))

    assert User.objects.get(pk=row["id"]).email_verified is True
    assert EmailMessage.objects.filter(to="confirmed@example.com", template="welcome").exists()
