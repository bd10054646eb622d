"""The admin's password form beside SSO: off with ADMIN_PASSWORD_LOGIN=false (hidden and refused
on the server), and always there while SSO is not configured."""

from __future__ import annotations

import pytest

from accounts.models import User
from audit.models import AuditEvent

PASSWORD = "a-long-staff-password-1"
LOGIN = "/admin/login/?next=/admin/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user() -> User:
    return User.objects.create_superuser("admin@example.com", PASSWORD)


def sign_in_with_password(client, email: str = "admin@example.com"):
    return client.post(LOGIN, {"username": email, "password": PASSWORD})


def test_with_the_password_form_off_it_is_hidden_and_a_password_is_refused(
    client, provider, settings, admin_user
):
    settings.ADMIN_PASSWORD_LOGIN = False

    page = client.get(LOGIN).content.decode()
    response = sign_in_with_password(client)

    assert "Sign in with Okta" in page
    assert 'name="password"' not in page and 'id="login-form"' not in page
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert "Password sign-in is turned off: sign in with Okta." in response.content.decode()
    [failed] = AuditEvent.objects.filter(action="staff.sign_in_failed")
    assert failed.changes == {
        "method": [None, "password"],
        "reason": [None, "password_sign_in_off"],
    }
    assert (failed.target_type, failed.target_id) == ("user", admin_user.pk)


def test_with_the_password_form_off_no_password_is_ever_checked(
    client, provider, settings, admin_user
):
    # Not one attempt reaches the backend, so none can count towards (or bypass) the lockout.
    settings.ADMIN_PASSWORD_LOGIN = False
    for _ in range(settings.AXES_FAILURE_LIMIT + 1):
        sign_in_with_password(client)

    settings.ADMIN_PASSWORD_LOGIN = True
    response = sign_in_with_password(client)

    assert response.status_code == 302 and response.url == "/admin/"


def test_with_both_on_both_are_offered(client, provider, admin_user):
    page = client.get(LOGIN).content.decode()

    assert "Sign in with Okta" in page and 'name="password"' in page
    assert sign_in_with_password(client).url == "/admin/"


def test_without_sso_the_password_form_is_the_way_in(client, settings, admin_user):
    # The embedded defaults (`make run` + createsuperuser): no OIDC settings at all.
    assert settings.STAFF_SSO_ENABLED is False
    assert "accounts.sso.StaffSSOBackend" not in settings.AUTHENTICATION_BACKENDS
    settings.ADMIN_PASSWORD_LOGIN = False  # only decides anything while SSO is on

    page = client.get(LOGIN).content.decode()
    response = sign_in_with_password(client)

    assert "Sign in with" not in page and 'name="password"' in page
    assert response.status_code == 302 and response.url == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_without_sso_its_urls_are_not_found(client, db):
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/?code=x&state=y").status_code == 404
