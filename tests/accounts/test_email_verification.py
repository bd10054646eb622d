"""Emails the identity provider does not vouch for are never mailed nor given to Stripe
(issue 12, finding 13): `email_verified: false`, or an address only in `user_metadata`."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
import pytest
from django.conf import settings

from accounts.models import User
from billing.services import entitlement_grant_manual
from notifications.models import EmailMessage
from tests.billing.conftest import APP_ORIGIN, stripe_fake  # noqa: F401 - the fixture
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/app/users/me"


def token_for(subject: str, **claims: Any) -> str:
    """An HS256 token as the identity provider would issue it, with exactly these claims."""
    now = int(time.time())
    payload = {"sub": subject, "iat": now, "exp": now + 600, **claims}
    return jwt.encode(payload, settings.AUTH_JWT_SECRET, algorithm="HS256")


def first_request(api, django_capture_on_commit_callbacks, token: str) -> User:
    with django_capture_on_commit_callbacks(execute=True):
        response = api.with_token(token).get(ME)
    assert response.status_code == 200, response.content
    return User.objects.get(pk=response.json()["id"])


def welcomes() -> list[str]:
    return list(EmailMessage.objects.filter(template="welcome").values_list("to", flat=True))


@pytest.mark.parametrize(
    "claims",
    [
        {"email": "mallory@example.com", "email_verified": False},
        {"email": "mallory@example.com", "email_verified": "false"},
        # Supabase: the user edits user_metadata, so an address found only there is not theirs.
        {"user_metadata": {"email": "mallory@example.com", "email_verified": True}},
        # A `false` anywhere is believed.
        {"email": "mallory@example.com", "user_metadata": {"email_verified": False}},
    ],
)
def test_an_unverified_email_gets_no_welcome(api, django_capture_on_commit_callbacks, claims):
    user = first_request(api, django_capture_on_commit_callbacks, token_for("idp|m", **claims))

    assert user.email == "mallory@example.com"
    assert user.email_verified is False
    assert welcomes() == []


@pytest.mark.parametrize(
    "claims",
    [
        {"email": "ada@example.com", "email_verified": True},
        # Clerk's and Supabase's access tokens carry the email without the claim.
        {"email": "ada@example.com"},
    ],
)
def test_a_verified_email_is_welcomed(api, django_capture_on_commit_callbacks, claims):
    user = first_request(api, django_capture_on_commit_callbacks, token_for("idp|a", **claims))

    assert user.email_verified is True
    assert welcomes() == ["ada@example.com"]


def test_an_operator_can_require_the_claim(api, django_capture_on_commit_callbacks, settings):
    settings.AUTH_REQUIRE_EMAIL_VERIFIED = True

    silent = first_request(
        api, django_capture_on_commit_callbacks, token_for("idp|s", email="s@example.com")
    )
    explicit = first_request(
        api,
        django_capture_on_commit_callbacks,
        token_for("idp|e", email="e@example.com", email_verified=True),
    )

    assert (silent.email_verified, explicit.email_verified) == (False, True)
    assert welcomes() == ["e@example.com"]


def test_a_later_token_that_verifies_the_same_address_enables_mail(
    api, django_capture_on_commit_callbacks
):
    subject = f"idp|{uuid.uuid4().hex}"
    first_request(
        api,
        django_capture_on_commit_callbacks,
        token_for(subject, email="late@example.com", email_verified=False),
    )
    # A token silent about it changes nothing; one about another address neither.
    for claims in (
        {"email": "late@example.com"},
        {"email": "other@example.com", "email_verified": True},
    ):
        assert (
            first_request(
                api, django_capture_on_commit_callbacks, token_for(subject, **claims)
            ).email_verified
            is False
        )

    user = first_request(
        api,
        django_capture_on_commit_callbacks,
        token_for(subject, email="late@example.com", email_verified=True),
    )

    assert user.email_verified is True
    # The next request (user from the cache) sees it too.
    assert User.objects.get(pk=subject).email_verified is True


def test_no_stripe_customer_gets_an_unverified_email(
    api,
    django_capture_on_commit_callbacks,
    stripe_fake,  # noqa: F811
):
    token = token_for("idp|shopper", email="shopper@example.com", email_verified=False)
    first_request(api, django_capture_on_commit_callbacks, token)

    response = api.with_token(token).post(
        "/api/v1/app/billing/checkout",
        {
            "plan": "monthly",
            "success_url": f"{APP_ORIGIN}/ok",
            "cancel_url": f"{APP_ORIGIN}/cancel",
        },
    )

    assert response.status_code == 200, response.content
    (created,) = stripe_fake.calls("POST", "/v1/customers")
    assert created.form["metadata[user_id]"] == "idp|shopper"
    assert "email" not in created.form


def test_no_subscription_email_to_an_unverified_address(api, django_capture_on_commit_callbacks):
    token = token_for("idp|sub", email="sub@example.com", email_verified=False)
    user = first_request(api, django_capture_on_commit_callbacks, token)

    staff = UserFactory(is_staff=True)

    with django_capture_on_commit_callbacks(execute=True):
        entitlement_grant_manual(user=user, plan="pro", granted_by=staff)

    assert User.objects.get(pk=user.pk).subscription_plan == "pro"
    assert not EmailMessage.objects.filter(to="sub@example.com").exists()
