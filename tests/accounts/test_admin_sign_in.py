"""The admin's password form: lockout after repeated failures, per account and per client
address, and every attempt in the audit log. Everything goes through the real login page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from freezegun import freeze_time

from accounts.models import User
from audit.models import AuditEvent

LOGIN = "/admin/login/?next=/admin/"
PASSWORD = "a-long-staff-password-1"
WRONG = "not-the-password-at-all"

pytestmark = pytest.mark.django_db


@pytest.fixture
def limit() -> int:
    return int(django_settings.AXES_FAILURE_LIMIT)


@pytest.fixture
def admin_user() -> User:
    return User.objects.create_user("admin@example.com", PASSWORD, is_staff=True)


@pytest.fixture
def colleague() -> User:
    return User.objects.create_user("colleague@example.com", PASSWORD, is_staff=True)


def attempt(client, email: str, password: str, *, ip: str = "198.51.100.1", **extra: str):
    return client.post(LOGIN, {"username": email, "password": password}, REMOTE_ADDR=ip, **extra)


def signed_in(response) -> bool:
    return response.status_code == 302 and response.url == "/admin/"


def test_below_the_limit_the_right_password_still_works(client, admin_user, limit):
    for _ in range(limit - 1):
        assert attempt(client, "admin@example.com", WRONG).status_code == 200

    assert signed_in(attempt(client, "admin@example.com", PASSWORD))


def test_an_account_is_locked_from_every_address(client, admin_user, colleague, limit):
    # One failure from each of `limit` addresses: no address reaches the limit on its own.
    for n in range(limit):
        attempt(client, "admin@example.com", WRONG, ip=f"203.0.113.{n + 1}")

    locked = attempt(client, "admin@example.com", PASSWORD, ip="192.0.2.77")

    assert locked.status_code == 429
    assert locked["Content-Type"].startswith("text/html")
    assert int(locked["Retry-After"]) == int(django_settings.AXES_COOLOFF_TIME.total_seconds())
    assert b"Too many failed sign-in attempts" in locked.content
    assert locked["X-Content-Type-Options"] == "nosniff"
    assert "_auth_user_id" not in client.session
    # Another account, from the same new address, is not affected.
    assert signed_in(attempt(client, "colleague@example.com", PASSWORD, ip="192.0.2.77"))


def test_the_email_case_does_not_restart_the_count(client, admin_user, limit):
    for n in range(limit):
        variant = "admin@example.com" if n % 2 else "ADMIN@Example.COM"
        attempt(client, f" {variant} ", WRONG, ip=f"203.0.113.{n + 1}")

    assert attempt(client, "admin@example.com", PASSWORD, ip="192.0.2.77").status_code == 429


def test_an_address_is_locked_for_every_account(client, admin_user, colleague, limit):
    # One failure on each of `limit` accounts (existing or not) from one address.
    for n in range(limit):
        attempt(client, f"guess{n}@example.com", WRONG, ip="198.51.100.9")

    from_there = attempt(client, "admin@example.com", PASSWORD, ip="198.51.100.9")

    assert from_there.status_code == 429
    assert "_auth_user_id" not in client.session
    # The same accounts from another address are not affected.
    assert signed_in(attempt(client, "admin@example.com", PASSWORD, ip="198.51.100.10"))


def test_the_lockout_ends_after_the_cool_off(client, admin_user, limit):
    with freeze_time() as clock:
        for _ in range(limit):
            attempt(client, "admin@example.com", WRONG)
        assert attempt(client, "admin@example.com", PASSWORD).status_code == 429

        clock.tick(django_settings.AXES_COOLOFF_TIME - timedelta(seconds=5))
        # Knocking during the lockout does not make it longer.
        assert attempt(client, "admin@example.com", WRONG).status_code == 429
        clock.tick(timedelta(seconds=10))

        assert signed_in(attempt(client, "admin@example.com", PASSWORD))


def test_spoofed_forwarded_for_is_ignored_without_a_trusted_proxy(client, admin_user, limit):
    for n in range(limit):
        attempt(client, f"guess{n}@example.com", WRONG, HTTP_X_FORWARDED_FOR=f"203.0.113.{n + 1}")

    locked = attempt(client, "admin@example.com", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.200")

    assert locked.status_code == 429


def test_behind_a_proxy_the_forwarded_client_address_counts(client, admin_user, limit, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    proxy = "10.0.0.2"
    for n in range(limit):
        attempt(
            client,
            f"guess{n}@example.com",
            WRONG,
            ip=proxy,
            # The client may write anything left of what the proxy appends.
            HTTP_X_FORWARDED_FOR=f"198.18.0.{n}, 203.0.113.5",
        )

    locked = attempt(
        client, "admin@example.com", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="203.0.113.5"
    )
    other_client = attempt(
        client, "admin@example.com", PASSWORD, ip=proxy, HTTP_X_FORWARDED_FOR="203.0.113.6"
    )

    assert locked.status_code == 429
    assert signed_in(other_client)


# --- Audit ---------------------------------------------------------------------------------


def events(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("created_at", "id"))


def test_a_sign_in_is_audited(client, admin_user):
    assert signed_in(attempt(client, "Admin@Example.com", PASSWORD, HTTP_USER_AGENT="Browser/1"))

    [event] = events("staff.sign_in")
    assert event.actor_id == admin_user.pk
    assert event.actor_type == AuditEvent.ActorType.STAFF
    assert (event.target_type, event.target_id) == ("user", admin_user.pk)
    assert event.ip == "198.51.100.1"
    assert event.user_agent == "Browser/1"


def test_failures_and_the_lockout_are_audited(client, admin_user, limit):
    for _ in range(limit - 1):
        attempt(client, "admin@example.com", WRONG)
    attempt(client, "nobody@example.com", WRONG, ip="192.0.2.1")
    attempt(client, "admin@example.com", WRONG)  # the limit: locked from now on
    attempt(client, "admin@example.com", PASSWORD)  # refused without checking

    failed = events("staff.sign_in_failed")
    locked = events("staff.sign_in_locked_out")
    assert [(e.target_type, e.target_id) for e in failed] == [
        *[("user", admin_user.pk)] * (limit - 1),
        ("email", "nobody@example.com"),
    ]
    assert [(e.target_type, e.target_id) for e in locked] == [("user", admin_user.pk)] * 2
    assert all(e.actor_id is None for e in failed + locked)
    assert all(e.ip == "198.51.100.1" for e in locked)
    assert not events("staff.sign_in")
