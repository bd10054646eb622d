"""Who may change what on the admin's user pages: only superusers grant access, passwords are never
shown, and deleting a user erases them as DELETE /users/me does.

`manager` is staff with every permission on users (view, add, change, delete) but not superuser.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission

from accounts.models import User
from audit.models import AuditEvent
from notifications.models import EmailMessage
from notifications.services import email_send
from projects.models import Project
from tests.factories import ProjectFactory, UserFactory

CHANGELIST = "/admin/accounts/user/"
PASSWORD = "a-long-staff-password-1"

pytestmark = pytest.mark.django_db


@pytest.fixture
def manager(client) -> User:
    """Staff allowed to view, add, change and delete users, signed in to `client`."""
    user = User.objects.create_user("manager@example.com", PASSWORD, is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="accounts",
            codename__in=("view_user", "add_user", "change_user", "delete_user"),
        )
    )
    client.force_login(user)
    return user


@pytest.fixture
def root() -> User:
    return User.objects.create_superuser("root@example.com", PASSWORD)


def change_url(user: User) -> str:
    return f"{CHANGELIST}{user.pk}/change/"


def user_form(user: User, **overrides: object) -> dict[str, object]:
    """The user change form as a browser posts it (the entitlements inline left empty)."""
    data: dict[str, object] = {
        "email": user.email,
        "full_name": user.full_name or "",
        "avatar_url": user.avatar_url or "",
        "role": user.role,
        "is_active": "on",
        "entitlements-TOTAL_FORMS": "0",
        "entitlements-INITIAL_FORMS": "0",
        "entitlements-MIN_NUM_FORMS": "0",
        "entitlements-MAX_NUM_FORMS": "1000",
    }
    if user.is_staff:
        data["is_staff"] = "on"
    data.update(overrides)
    return data


def escalation(**overrides: object) -> dict[str, object]:
    """Every access field set to the most a form could grant."""
    return {
        "role": User.Role.SUPERADMIN,
        "is_staff": "on",
        "is_superuser": "on",
        "groups": [Group.objects.create(name="Everything").pk],
        "user_permissions": list(Permission.objects.values_list("pk", flat=True)),
        **overrides,
    }


# --- Passwords are never shown ------------------------------------------------------------------


@pytest.mark.parametrize("viewer", ["manager", "root"])
def test_user_page_shows_no_password_hash_and_links_to_the_password_form(client, viewer, request):
    acting = request.getfixturevalue(viewer)
    client.force_login(acting)
    target = User.objects.create_user("someone@example.com", "their-long-password-7")

    page = client.get(change_url(target))

    assert page.status_code == 200
    content = page.content.decode()
    assert target.password not in content
    assert 'name="password"' not in content
    assert 'href="../password/"' in content


def test_the_password_link_sets_a_new_password(client, manager):
    target = User.objects.create_user("someone@example.com", "their-long-password-7")
    url = f"{CHANGELIST}{target.pk}/password/"

    assert client.get(url).status_code == 200
    response = client.post(
        url,
        {"password1": "a-brand-new-password-8", "password2": "a-brand-new-password-8"},
    )

    assert response.status_code == 302
    target.refresh_from_db()
    assert target.check_password("a-brand-new-password-8")


def test_a_posted_password_hash_is_ignored(client, root):
    client.force_login(root)
    target = User.objects.create_user("someone@example.com", "their-long-password-7")
    forged = make_password("the-attackers-password-3")

    response = client.post(change_url(target), user_form(target, password=forged))

    assert response.status_code == 302
    target.refresh_from_db()
    assert target.check_password("their-long-password-7")


def test_a_superusers_page_seen_by_other_staff_shows_no_hash(client, manager, root):
    page = client.get(change_url(root))

    assert page.status_code == 200
    assert root.password not in page.content.decode()


# --- Only superusers grant access ---------------------------------------------------------------


def test_staff_cannot_make_themselves_superuser(client, manager):
    response = client.post(
        change_url(manager), user_form(manager, full_name="Still Me", **escalation())
    )

    assert response.status_code == 302
    manager.refresh_from_db()
    assert manager.full_name == "Still Me"  # the rest of the form was saved
    assert not manager.is_superuser
    assert manager.role == User.Role.USER
    assert not manager.groups.exists()
    assert manager.user_permissions.count() == 4


def test_staff_cannot_grant_access_to_a_user(client, manager):
    target = UserFactory()

    response = client.post(change_url(target), user_form(target, **escalation()))

    assert response.status_code == 302
    target.refresh_from_db()
    assert not target.is_staff
    assert not target.is_superuser
    assert target.role == User.Role.USER
    assert not target.groups.exists()
    assert not target.user_permissions.exists()


def test_staff_see_access_fields_read_only(client, manager):
    page = client.get(change_url(UserFactory())).content.decode()

    for field in ("is_superuser", "is_staff", "role", "groups", "user_permissions"):
        assert f'name="{field}"' not in page


def test_a_superuser_grants_access(client, root):
    client.force_login(root)
    target = UserFactory()

    response = client.post(change_url(target), user_form(target, **escalation()))

    assert response.status_code == 302
    target.refresh_from_db()
    assert target.is_staff
    assert target.is_superuser
    assert target.role == User.Role.SUPERADMIN
    assert target.groups.exists()
    [event] = AuditEvent.objects.filter(action="user.access_change")
    assert (event.actor_id, event.target_id) == (root.pk, target.pk)
    assert event.changes["is_superuser"] == [False, True]
    assert event.changes["role"] == ["user", "superadmin"]
    assert event.changes["groups"] == [[], ["Everything"]]


def test_the_add_form_creates_no_staff_whatever_is_posted(client, manager):
    response = client.post(
        f"{CHANGELIST}add/",
        {
            "email": "new@example.com",
            "password1": "another-long-password-9",
            "password2": "another-long-password-9",
            **escalation(),
        },
    )

    assert response.status_code == 302
    created = User.objects.get(email="new@example.com")
    assert not created.is_staff
    assert not created.is_superuser
    assert created.role == User.Role.USER
    assert not created.groups.exists()
    assert not created.user_permissions.exists()


@pytest.mark.parametrize("other", ["root", "other_staff"])
def test_staff_cannot_change_another_staff_account(client, manager, other, request):
    target = (
        request.getfixturevalue("root")
        if other == "root"
        else User.objects.create_user("other.staff@example.com", PASSWORD, is_staff=True)
    )
    original_hash = target.password

    page = client.get(change_url(target))
    changing = client.post(change_url(target), user_form(target, email="mine@example.com"))
    password = client.post(
        f"{CHANGELIST}{target.pk}/password/",
        {"password1": "taken-over-password-5", "password2": "taken-over-password-5"},
    )
    deleting = client.post(f"{CHANGELIST}{target.pk}/delete/", {"post": "yes"})

    assert page.status_code == 200  # read-only
    assert 'name="email"' not in page.content.decode()
    assert changing.status_code == 403
    assert password.status_code == 403
    assert deleting.status_code == 403
    target.refresh_from_db()
    assert target.email != "mine@example.com"
    assert target.password == original_hash


def test_bulk_actions_leave_other_staff_accounts_alone(client, manager, root):
    plain = UserFactory()

    deactivating = client.post(
        CHANGELIST,
        {"action": "deactivate_users", "_selected_action": [root.pk, plain.pk]},
        follow=True,
    )
    deleting = client.post(
        CHANGELIST,
        {"action": "delete_selected", "_selected_action": [root.pk, plain.pk], "post": "yes"},
    )

    assert b"1 user(s) deactivated" in deactivating.content
    root.refresh_from_db()
    plain.refresh_from_db()
    assert root.is_active
    assert not plain.is_active
    assert deleting.status_code == 403
    assert User.objects.filter(pk__in=[root.pk, plain.pk]).count() == 2


def test_view_only_staff_cannot_run_the_activation_actions(client):
    viewer = User.objects.create_user("viewer@example.com", PASSWORD, is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(viewer)
    target = UserFactory()

    client.post(CHANGELIST, {"action": "deactivate_users", "_selected_action": [target.pk]})

    target.refresh_from_db()
    assert target.is_active


# --- Deleting erases --------------------------------------------------------------------------


def _personal_data(user: User) -> None:
    ProjectFactory.create_batch(2, owner=user)
    email_send(to=user.email, template="welcome", context={"name": "x"}, user=user)


@pytest.mark.parametrize("how", ["delete_view", "bulk_action"])
def test_deleting_a_user_in_the_admin_erases_their_data(
    client, root, how, django_capture_on_commit_callbacks
):
    client.force_login(root)
    target, keeper = UserFactory(), UserFactory()
    _personal_data(target)
    _personal_data(keeper)

    with django_capture_on_commit_callbacks(execute=True):
        if how == "delete_view":
            response = client.post(f"{CHANGELIST}{target.pk}/delete/", {"post": "yes"})
        else:
            response = client.post(
                CHANGELIST,
                {"action": "delete_selected", "_selected_action": [target.pk], "post": "yes"},
            )

    assert response.status_code == 302
    assert not User.objects.filter(pk=target.pk).exists()
    assert not Project.objects.filter(owner_id=target.pk).exists()
    assert not EmailMessage.objects.filter(to=target.email).exists()
    assert Project.objects.filter(owner=keeper).count() == 2
    assert EmailMessage.objects.filter(to=keeper.email).exists()
