"""Staff sign-in through the company's OIDC provider: the whole code flow against a provider
served over HTTP, with who gets in, the access the provider's groups give, and the audit log."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Group
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent
from tests.accounts.sso.conftest import Callback, sso_sign_in
from tests.factories import UserFactory
from tests.jwt_keys import SigningKey, jwks

LOGIN_PAGE = "/admin/login/"

pytestmark = pytest.mark.django_db


def signed_in_user(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("created_at", "id"))


def assert_refused(client: Client, callback, reason: str, message: str) -> None:
    """Back on the login page with no one signed in, the message shown, the refusal audited."""
    assert callback.response.status_code == 302
    assert callback.response.url == LOGIN_PAGE
    assert signed_in_user(client) is None
    page = client.get(LOGIN_PAGE)
    assert message in page.content.decode()
    assert client.get("/admin/").status_code == 302  # still sent to the login page
    failed = events("staff.sign_in_failed")[-1]
    assert failed.changes["method"] == [None, "sso"]
    assert failed.changes["reason"] == [None, reason]
    assert failed.actor_id is None


# --- Signing in ----------------------------------------------------------------------------


def test_a_staff_member_signs_in_and_lands_on_the_admin(client, provider):
    provider.sign_in_as(sub="okta|ada", email="Ada@Example.com", name="Ada Lovelace")

    callback = sso_sign_in(client)

    assert callback.response.status_code == 302 and callback.response.url == "/admin/"
    user = signed_in_user(client)
    assert user is not None and user.pk == "sso|okta|ada"
    assert (user.email, user.full_name) == ("Ada@example.com", "Ada Lovelace")
    assert user.is_staff and not user.is_superuser and user.role == User.Role.ADMIN
    assert not user.has_usable_password()
    assert client.get("/admin/").status_code == 200
    assert provider.requests == ["/authorize", "/token", "/jwks", "/userinfo"]
    [signed] = events("staff.sign_in")
    assert (signed.actor_id, signed.actor_type) == (user.pk, AuditEvent.ActorType.STAFF)
    assert signed.changes == {"method": [None, "sso"]}
    [created] = events("user.create")
    assert created.target_id == user.pk
    assert created.actor_type == AuditEvent.ActorType.PROVIDER


def test_the_next_sign_in_finds_the_same_account(client, provider):
    sso_sign_in(client)
    client.logout()

    callback = sso_sign_in(Client(), next_url="/admin/accounts/user/")

    assert callback.response.url == "/admin/accounts/user/"
    assert User.objects.filter(is_staff=True).count() == 1
    assert len(events("staff.sign_in")) == 2


def test_an_account_made_here_signs_in_by_its_email(client, provider):
    local = User.objects.create_user("ada@example.com", "a-long-staff-password-1", is_staff=True)
    provider.sign_in_as(email="ADA@example.com")

    sso_sign_in(client)

    assert signed_in_user(client) == local
    assert User.objects.count() == 1


def test_the_login_page_offers_the_provider_and_links_to_the_flow(client, provider):
    page = client.get("/admin/login/?next=/admin/accounts/user/").content.decode()

    assert "Sign in with Okta" in page
    assert 'href="/oidc/authenticate/?next=/admin/accounts/user/"' in page
    assert 'name="password"' in page  # ADMIN_PASSWORD_LOGIN is true here
    assert "<script>" not in page


# --- Groups and superuser from the provider ------------------------------------------------


def test_groups_follow_the_provider_at_every_sign_in(client, provider):
    provider.sign_in_as(groups=["support", "billing-ops", "not-mapped"])
    sso_sign_in(client)
    user = User.objects.get(pk="sso|okta|ada")
    assert sorted(user.groups.values_list("name", flat=True)) == ["Billing", "Support"]
    # A group the admin gave by hand, not named in the map, is not the provider's to take.
    user.groups.add(Group.objects.create(name="Reviewers"))

    provider.sign_in_as(groups=["support"])
    sso_sign_in(Client())

    assert sorted(user.groups.values_list("name", flat=True)) == ["Reviewers", "Support"]
    change = events("user.access_change")[-1]
    assert change.actor_type == AuditEvent.ActorType.PROVIDER and change.actor_id is None
    assert change.target_id == user.pk
    assert change.changes == {
        "groups": [["Billing", "Reviewers", "Support"], ["Reviewers", "Support"]]
    }


def test_removing_every_group_at_the_provider_removes_them_here(client, provider):
    provider.sign_in_as(groups=["ops"])
    sso_sign_in(client)
    user = User.objects.get(pk="sso|okta|ada")
    assert sorted(user.groups.values_list("name", flat=True)) == ["Operations", "Support"]

    provider.sign_in_as(groups=[])
    sso_sign_in(Client())

    assert not user.groups.exists()


def test_superuser_comes_only_from_the_superuser_groups_and_goes_with_them(client, provider):
    # Claims that look like grants grant nothing.
    provider.sign_in_as(groups=["support"], is_superuser=True, role="superadmin")
    sso_sign_in(client)
    user = User.objects.get(pk="sso|okta|ada")
    assert not user.is_superuser and user.role == User.Role.ADMIN

    provider.sign_in_as(groups=["support", "console-admins"])
    sso_sign_in(Client())
    user.refresh_from_db()
    assert user.is_superuser and user.role == User.Role.SUPERADMIN
    granted = events("user.access_change")[-1]
    assert granted.changes["is_superuser"] == [False, True]

    provider.sign_in_as(groups=["support"])
    sso_sign_in(Client())
    user.refresh_from_db()
    assert not user.is_superuser and user.role == User.Role.ADMIN
    revoked = events("user.access_change")[-1]
    assert revoked.changes == {"is_superuser": [True, False], "role": ["superadmin", "admin"]}


def test_a_superuser_made_here_loses_it_when_signing_in_without_the_group(client, provider):
    User.objects.create_superuser("ada@example.com", "a-long-staff-password-1")
    provider.sign_in_as(groups=["support"])

    sso_sign_in(client)

    user = signed_in_user(client)
    assert user is not None and not user.is_superuser and user.is_staff


# --- Who is refused ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    ["ada@elsewhere.com", "ada@mail.example.com", "ada@example.com.elsewhere.net"],
)
def test_an_email_outside_the_allowed_domains_is_refused(client, provider, email):
    provider.sign_in_as(email=email)

    callback = sso_sign_in(client)

    assert_refused(client, callback, "domain_not_allowed", "may not sign in to the staff console")
    assert not User.objects.exists()
    failed = events("staff.sign_in_failed")[-1]
    assert (failed.target_type, failed.target_id) == ("email", email)


@pytest.mark.parametrize("email", [None, "", "not-an-email", "ada@example.com@elsewhere"])
def test_a_sign_in_without_a_valid_email_is_refused(client, provider, email):
    provider.sign_in_as(email=email)

    callback = sso_sign_in(client)

    assert_refused(client, callback, "email_missing", "Okta did not give an email address")


@pytest.mark.parametrize("verified", [False, "false", None])
def test_an_unverified_email_is_refused(client, provider, verified):
    provider.sign_in_as(email_verified=verified)

    callback = sso_sign_in(client)

    assert_refused(client, callback, "email_unverified", "is not verified with Okta")
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "overrides",
    [
        {"nonce": "a-nonce-from-another-sign-in"},
        {"nonce": None},
        {"aud": "another-client"},
        {"exp": int(time.time()) - 60},
    ],
    ids=["wrong-nonce", "no-nonce", "wrong-audience", "expired"],
)
def test_an_id_token_that_does_not_verify_is_refused(client, provider, overrides):
    provider.id_token_overrides = overrides

    callback = sso_sign_in(client)

    assert_refused(client, callback, "invalid_response", "could not be completed")
    assert not User.objects.exists()


def test_an_id_token_signed_with_another_key_is_refused(client, provider, monkeypatch):
    # Signed with a key of the published key's kid that is not the published key.
    published = provider.key
    monkeypatch.setattr(provider, "key", SigningKey.rsa(published.kid))
    monkeypatch.setattr(provider, "jwks", lambda: (200, {}, jwks(published)))

    callback = sso_sign_in(client)

    assert_refused(client, callback, "invalid_response", "could not be completed")


def test_a_replayed_state_is_refused(client, provider):
    # The provider would take the code twice: the refusal must be the client's own.
    provider.reusable_codes = True
    first = sso_sign_in(client)
    assert signed_in_user(client) is not None

    replayed_here = client.get(first.url)

    assert_refused(client, Callback(replayed_here, first.url), "state_mismatch", "try again")
    elsewhere = Client()
    replayed_elsewhere = elsewhere.get(first.url)
    assert replayed_elsewhere.url == LOGIN_PAGE
    assert "_auth_user_id" not in elsewhere.session
    assert events("staff.sign_in_failed")[-1].changes["reason"] == [None, "not_completed"]
    assert provider.requests.count("/token") == 1  # neither replay reached the provider
    assert len(events("staff.sign_in")) == 1


def test_an_api_user_with_the_same_email_is_never_signed_in_nor_made_staff(client, provider):
    api_user = UserFactory(id="supabase|api-ada", email="ada@example.com")

    sso_sign_in(client)

    signed_in = signed_in_user(client)
    assert signed_in is not None and signed_in.pk == "sso|okta|ada"
    api_user.refresh_from_db()
    assert not api_user.is_staff and not api_user.is_superuser and not api_user.groups.exists()


def test_an_account_whose_staff_access_was_taken_away_is_refused(client, provider):
    sso_sign_in(client)
    User.objects.filter(pk="sso|okta|ada").update(is_staff=False)

    fresh = Client()
    callback = sso_sign_in(fresh)

    assert_refused(fresh, callback, "not_staff", "has no access to the staff console")
    assert not User.objects.get(pk="sso|okta|ada").is_staff
    # Its earlier session ended with its staff access.
    assert client.get("/admin/").status_code == 302


def test_a_deactivated_staff_member_is_refused(client, provider):
    User.objects.create_user(
        "ada@example.com", "a-long-staff-password-1", is_staff=True, is_active=False
    )

    callback = sso_sign_in(client)

    assert_refused(client, callback, "deactivated", "Your staff account is deactivated")
    failed = events("staff.sign_in_failed")[-1]
    assert failed.target_type == "user"


def test_deactivation_ends_an_sso_session_and_refuses_the_next_sign_in(client, provider):
    sso_sign_in(client)
    User.objects.filter(pk="sso|okta|ada").update(is_active=False)

    assert client.get("/admin/").status_code == 302
    fresh = Client()
    assert_refused(fresh, sso_sign_in(fresh), "deactivated", "deactivated")


def test_an_sso_account_is_not_handed_to_another_subject_with_its_email(client, provider):
    sso_sign_in(client)
    provider.sign_in_as(sub="okta|someone-else", email="ada@example.com")

    fresh = Client()
    callback = sso_sign_in(fresh)

    assert_refused(fresh, callback, "subject_mismatch", "belongs to another Okta identity")


def test_a_refusal_by_the_provider_is_shown_and_audited(client, provider):
    start = client.get("/oidc/authenticate/", {"next": "/admin/"})
    state = start.url.split("state=")[1].split("&")[0]

    response = client.get("/oidc/callback/", {"error": "access_denied", "state": state})

    assert response.url == LOGIN_PAGE
    assert "Okta did not sign you in." in client.get(LOGIN_PAGE).content.decode()
    failed = events("staff.sign_in_failed")[-1]
    assert failed.changes["reason"] == [None, "provider_error:access_denied"]


def test_sso_refusals_do_not_lock_the_address_out_of_the_password_form(client, provider, settings):
    staff = User.objects.create_user("bob@example.com", "a-long-staff-password-1", is_staff=True)
    provider.sign_in_as(email="ada@elsewhere.com")
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        sso_sign_in(Client())

    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": staff.email, "password": "a-long-staff-password-1"},
    )

    assert response.status_code == 302 and response.url == "/admin/"
