"""The Django admin as staff console for users."""

from __future__ import annotations

import pytest

from accounts.models import User
from tests.factories import UserFactory

CHANGELIST = "/admin/accounts/user/"
LOGIN = "/admin/login/"

pytestmark = pytest.mark.django_db


def sign_in(client, email: str, password: str) -> bool:
    """Sign in through the admin's password form, as a browser does."""
    response = client.post(f"{LOGIN}?next=/admin/", {"username": email, "password": password})
    return response.status_code == 302 and response.url == "/admin/"


def test_createsuperuser_gets_a_generated_id_and_can_sign_in(client):
    admin = User.objects.create_superuser("root@example.com", "a-long-staff-password-1")

    assert admin.pk.startswith("local|")
    assert admin.role == "superadmin"
    assert sign_in(client, "root@example.com", "a-long-staff-password-1")
    assert client.get(CHANGELIST).status_code == 200


def test_non_staff_cannot_sign_in_even_with_a_password(client):
    User.objects.create_user("plain@example.com", "a-long-staff-password-1")

    assert not sign_in(client, "plain@example.com", "a-long-staff-password-1")


def test_staff_sign_in_works_when_an_api_user_shares_the_email(client):
    UserFactory(email="shared@example.com")
    User.objects.create_superuser("shared@example.com", "a-long-staff-password-1")

    assert sign_in(client, "shared@example.com", "a-long-staff-password-1")


def test_changelist_search_and_filters(client, staff):
    UserFactory(email="findme@example.com", full_name="Find Me")
    UserFactory(email="inactive@example.com", is_active=False)

    found = client.get(CHANGELIST, {"q": "findme"})
    inactive = client.get(CHANGELIST, {"is_active__exact": "0"})

    assert found.status_code == 200
    assert b"findme@example.com" in found.content
    assert b"inactive@example.com" not in found.content
    assert b"inactive@example.com" in inactive.content
    assert b"findme@example.com" not in inactive.content


def test_change_page_renders(client, staff):
    user = UserFactory(avatar_url="https://cdn.example.com/a.png")

    response = client.get(f"/admin/accounts/user/{user.pk}/change/")

    assert response.status_code == 200


def test_add_page_creates_a_staff_account_with_generated_id(client, staff):
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "new.staff@example.com",
            "password1": "another-long-password-9",
            "password2": "another-long-password-9",
        },
    )

    assert response.status_code == 302
    created = User.objects.get(email="new.staff@example.com")
    assert created.pk.startswith("local|")


def test_deactivate_action_skips_the_acting_staff_member(client, staff):
    targets = UserFactory.create_batch(2)

    response = client.post(
        CHANGELIST,
        {
            "action": "deactivate_users",
            "_selected_action": [staff.pk, *[user.pk for user in targets]],
        },
        follow=True,
    )

    assert response.status_code == 200
    assert b"2 user(s) deactivated" in response.content
    assert b"Your own account was left unchanged" in response.content
    staff.refresh_from_db()
    assert staff.is_active
    assert not User.objects.filter(pk__in=[user.pk for user in targets], is_active=True).exists()


def test_activate_action(client, staff):
    target = UserFactory(is_active=False)

    client.post(CHANGELIST, {"action": "activate_users", "_selected_action": [target.pk]})

    target.refresh_from_db()
    assert target.is_active
