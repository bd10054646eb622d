"""Impersonation through the staff console: the button and form on a user's page, the token
shown once and used against the API, "End now", refusals, and the sessions' list."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.impersonation import impersonation_start
from accounts.models import Impersonation, User
from audit.models import AuditEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/app/users/me"
SESSIONS = "/admin/accounts/impersonation/"
TOKEN = re.compile(r'<textarea id="impersonation-token"[^>]*>([^<]+)</textarea>')


def user_page(user: User) -> str:
    return reverse("admin:accounts_user_change", args=[quote(user.pk)])


def impersonate_page(user: User) -> str:
    return reverse("admin:accounts_user_impersonate", args=[quote(user.pk)])


def staff_member(email: str, *codenames: str) -> User:
    member = User.objects.create_user(email, "a-long-staff-password-1", is_staff=True)
    member.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return member


@pytest.fixture
def support(db) -> User:
    """Staff (not a superuser) who may see users and impersonate them."""
    return staff_member("support@example.com", "view_user", "impersonate_user")


@pytest.fixture
def support_client(support) -> Client:
    client = Client()
    client.force_login(support)
    return client


def token_on(page) -> str:
    match = TOKEN.search(page.content.decode())
    assert match, page.content.decode()[:2000]
    return html.unescape(match.group(1)).strip()


def test_the_whole_flow_from_the_user_page_to_the_api_and_back(support_client, support, api):
    user = UserFactory()

    page = support_client.get(user_page(user))
    assert page.status_code == 200
    assert f'href="{impersonate_page(user)}"' in page.content.decode()
    form = support_client.get(impersonate_page(user))
    assert form.status_code == 200
    assert 'name="reason"' in form.content.decode()
    assert 'value="30"' in form.content.decode()

    shown = support_client.post(
        impersonate_page(user), {"reason": "Ticket 7: billing page is blank", "minutes": "45"}
    )

    assert shown.status_code == 200
    assert "no-store" in shown["Cache-Control"]
    token = token_on(shown)
    body = shown.content.decode()
    assert "shown only once" in body
    assert f"curl -H &quot;Authorization: Bearer {token}&quot; http://testserver{ME}" in body
    impersonation = Impersonation.objects.get()
    assert (impersonation.staff, impersonation.user) == (support, user)
    assert impersonation.reason == "Ticket 7: billing page is blank"
    assert not impersonation.allow_changes
    assert impersonation.expires_at - impersonation.created_at == timedelta(minutes=45)

    me = api.with_token(token).get(ME)
    assert me.status_code == 200 and me.json()["id"] == user.pk
    assert api.post("/api/v1/app/projects", {"name": "x"}).status_code == 403

    end_url = f"{SESSIONS}{impersonation.pk}/end/"
    assert f'action="{end_url}"' in body
    ended = support_client.post(end_url, follow=True)

    assert ended.redirect_chain[-1][0] == user_page(user)
    assert "ended" in ended.content.decode()
    assert api.get(ME).status_code == 401
    actions = list(
        AuditEvent.objects.filter(action__startswith="impersonation.")
        .order_by("created_at", "id")
        .values_list("action", "actor_id")
    )
    assert actions == [
        ("impersonation.start", support.pk),
        ("impersonation.request", user.pk),
        ("impersonation.request", user.pk),
        ("impersonation.end", support.pk),
    ]
    start = AuditEvent.objects.get(action="impersonation.start")
    assert start.changes["minutes"] == [None, 45]
    assert start.changes["reason"] == [None, "Ticket 7: billing page is blank"]


def test_allow_changes_gives_a_token_that_writes(support_client, api):
    user = UserFactory()

    shown = support_client.post(
        impersonate_page(user), {"reason": "Fix a project", "minutes": "5", "allow_changes": "on"}
    )

    assert Impersonation.objects.get().allow_changes
    created = api.with_token(token_on(shown)).post("/api/v1/app/projects", {"name": "fixed"})
    assert created.status_code == 201 and created.json()["owner_id"] == user.pk


@pytest.mark.parametrize("minutes", ["4", "481", "", "ten"])
def test_a_duration_outside_5_to_480_minutes_is_a_form_error(support_client, minutes):
    user = UserFactory()

    page = support_client.post(impersonate_page(user), {"reason": "Why", "minutes": minutes})

    assert page.status_code == 200
    assert 'class="errorlist' in page.content.decode()
    assert "impersonation-token" not in page.content.decode()
    assert not Impersonation.objects.exists()


def test_a_reason_is_required(support_client):
    user = UserFactory()

    page = support_client.post(impersonate_page(user), {"reason": "  ", "minutes": "30"})

    assert 'class="errorlist' in page.content.decode()
    assert not Impersonation.objects.exists()


def test_staff_superusers_and_deactivated_users_cannot_be_impersonated(support_client, staff):
    colleague = staff_member("colleague@example.com")
    gone = UserFactory(is_active=False)

    for target, message in (
        (colleague, "Staff accounts cannot be impersonated."),
        (staff, "Staff accounts cannot be impersonated."),
        (gone, "Deactivated accounts cannot be impersonated."),
    ):
        page = support_client.get(user_page(target))
        assert "/impersonate/" not in page.content.decode()
        for response in (
            support_client.get(impersonate_page(target), follow=True),
            support_client.post(
                impersonate_page(target), {"reason": "Why", "minutes": "30"}, follow=True
            ),
        ):
            assert response.redirect_chain[-1][0] == user_page(target)
            assert message in response.content.decode()
            assert "impersonation-token" not in response.content.decode()
    assert not Impersonation.objects.exists()


def test_staff_without_the_permission_get_no_button_and_a_403(api):
    user = UserFactory()
    viewer = staff_member("viewer@example.com", "view_user", "view_impersonation")
    client = Client()
    client.force_login(viewer)

    page = client.get(user_page(user))
    assert page.status_code == 200
    assert "/impersonate/" not in page.content.decode()

    assert client.get(impersonate_page(user)).status_code == 403
    assert client.post(impersonate_page(user), {"reason": "x", "minutes": "30"}).status_code == 403
    assert not Impersonation.objects.exists()

    impersonation, token = impersonation_start(
        staff=User.objects.create_superuser("root@example.com", "pw-0123456789"),
        user=user,
        reason="Someone else's session",
        minutes=30,
        allow_changes=False,
    )
    assert client.post(f"{SESSIONS}{impersonation.pk}/end/").status_code == 403
    assert api.with_token(token).get(ME).status_code == 200


def test_a_superuser_sees_the_button(client, staff):
    user = UserFactory()

    page = client.get(user_page(user))

    assert f'href="{impersonate_page(user)}"' in page.content.decode()


def test_the_sessions_list_shows_their_status_in_constant_queries(
    client, staff, django_assert_max_num_queries
):
    now = timezone.now()
    for index in range(30):
        Impersonation.objects.create(
            staff=staff,
            user=UserFactory(),
            reason=f"Ticket {index}",
            expires_at=now + timedelta(minutes=30 if index % 3 else -1),
            ended_at=now if index % 3 == 1 else None,
            ended_by=staff if index % 3 == 1 else None,
        )

    with django_assert_max_num_queries(8):
        page = client.get(SESSIONS)

    assert page.status_code == 200
    body = page.content.decode()
    assert body.count("Ticket ") >= 30
    assert body.count(">active<") == 10
    assert body.count(">ended<") == 10
    assert body.count(">expired<") == 10
    active = client.get(SESSIONS, {"status": "active"})
    assert active.context["cl"].result_count == 10
    assert client.get(SESSIONS, {"status": "expired"}).context["cl"].result_count == 10


def test_the_end_action_ends_running_sessions_only(client, staff, api):
    users = UserFactory.create_batch(2)
    sessions = [
        impersonation_start(staff=staff, user=u, reason="Check", minutes=30, allow_changes=False)
        for u in users
    ]
    over = Impersonation.objects.create(
        staff=staff, user=UserFactory(), reason="Old", expires_at=timezone.now()
    )

    response = client.post(
        SESSIONS,
        {
            "action": "end_sessions",
            "_selected_action": [str(s.pk) for s, _ in sessions] + [str(over.pk)],
        },
        follow=True,
    )

    assert response.status_code == 200
    body = response.content.decode()
    assert "2 session(s) ended." in body
    assert "1 session(s) had already ended or expired." in body
    for _, token in sessions:
        assert api.with_token(token).get(ME).status_code == 401
    assert AuditEvent.objects.filter(action="impersonation.end").count() == 2
    over.refresh_from_db()
    assert over.ended_at is None


def test_sessions_cannot_be_added_changed_or_deleted_in_the_admin(client, staff):
    impersonation = Impersonation.objects.create(
        staff=staff, user=UserFactory(), reason="Check", expires_at=timezone.now()
    )

    assert client.get(f"{SESSIONS}add/").status_code == 403
    assert client.get(f"{SESSIONS}{impersonation.pk}/delete/").status_code == 403
    detail = client.get(f"{SESSIONS}{impersonation.pk}/change/")
    assert detail.status_code == 200
    assert 'name="reason"' not in detail.content.decode()
