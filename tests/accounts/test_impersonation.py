"""Impersonation tokens through the real API: who they act as, read-only sessions, ending and
expiry, the audit trail, the log lines and metric that mark them, and forged tokens."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import time
import uuid
from datetime import timedelta

import jwt
import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from django.utils import timezone
from django.utils.module_loading import import_string
from freezegun import freeze_time
from prometheus_client.parser import text_string_to_metric_families

from accounts.impersonation import impersonation_end, impersonation_start
from accounts.models import Impersonation, User
from audit.models import AuditEvent
from config.errors import AuthorizationError, ValidationError
from config.observability import RequestContextFilter, build_logging
from projects.models import Project
from tests.factories import UserFactory
from tests.usage.conftest import metrics

ME = "/api/v1/app/users/me"
PROJECTS = "/api/v1/app/projects"

pytestmark = pytest.mark.django_db


@pytest.fixture
def support(db) -> User:
    """A staff member (not a superuser) holding the impersonation permission."""
    member = User.objects.create_user(
        "support@example.com", "a-long-support-password-1", is_staff=True
    )
    member.user_permissions.add(Permission.objects.get(codename="impersonate_user"))
    return User.objects.get(pk=member.pk)  # permissions are cached on the instance


def start(staff, user, *, minutes=30, allow_changes=False, reason="Ticket 42: sees no projects"):
    return impersonation_start(
        staff=staff, user=user, reason=reason, minutes=minutes, allow_changes=allow_changes
    )


def requests_audited(impersonation):
    return AuditEvent.objects.filter(
        action="impersonation.request", target_id=str(impersonation.pk)
    ).order_by("created_at", "id")


def test_the_token_acts_as_the_user_and_names_the_staff_member(api, support, user):
    _, token = start(support, user)

    response = api.with_token(token).get(ME)

    assert response.status_code == 200, response.content
    assert response.json()["id"] == user.pk
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["sub"] == user.pk
    assert claims["act"] == {"sub": support.pk, "email": "support@example.com"}
    assert claims["iss"] == "groundwork-console"
    assert claims["exp"] - claims["iat"] == 30 * 60


def test_a_read_only_session_cannot_write(api, support, user):
    _, token = start(support, user)
    client = api.with_token(token)

    created = client.post(PROJECTS, {"name": "Not mine to make"})
    renamed = client.patch(ME, {"full_name": "Someone else"})
    deleted = client.delete(ME)

    for refused in (created, renamed, deleted):
        assert refused.status_code == 403
        assert refused.json()["error"] == {
            "code": "AUTHORIZATION_ERROR",
            "message": "This impersonation session is read-only",
            "details": {},
        }
    assert not Project.objects.exists()
    user.refresh_from_db()
    assert user.is_active and user.full_name != "Someone else"
    assert client.get(PROJECTS).status_code == 200


def test_a_session_that_allows_changes_writes_as_the_user(api, support, user):
    _, token = start(support, user, allow_changes=True)

    response = api.with_token(token).post(PROJECTS, {"name": "Fixed for the user"})

    assert response.status_code == 201, response.content
    assert response.json()["owner_id"] == user.pk
    assert Project.objects.get().owner_id == user.pk


def test_what_the_user_appears_to_do_in_a_session_is_recorded_as_the_staff_members(
    api, support, user
):
    _, token = start(support, user, allow_changes=True)

    response = api.with_token(token).delete(ME)

    assert response.status_code == 204, response.content
    deactivation = AuditEvent.objects.get(action="user.deactivate", target_id=user.pk)
    assert deactivation.actor_id == user.pk
    assert deactivation.impersonator_id == support.pk
    assert deactivation.impersonator_label == "support@example.com"


def test_requests_made_in_a_session_are_not_the_users_usage(api, support, user):
    _, token = start(support, user)
    for _ in range(3):
        assert api.with_token(token).get(ME).status_code == 200

    own = type(api)().as_user(user)
    own.get(ME)

    # The user's own request and this summary request, not the staff member's three.
    assert metrics(own)["api_requests"] == 2


def test_a_session_ended_early_is_refused_on_the_next_request(api, support, user):
    impersonation, token = start(support, user)
    client = api.with_token(token)
    assert client.get(ME).status_code == 200

    impersonation_end(impersonation=impersonation, ended_by=support)
    response = client.get(ME)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"
    assert response.json()["error"]["message"] == "This impersonation session has ended"
    assert response["WWW-Authenticate"] == "Bearer"
    end = AuditEvent.objects.get(action="impersonation.end")
    assert end.actor_id == support.pk and end.target_id == user.pk
    assert end.changes["reason"] == [None, "Ticket 42: sees no projects"]


def test_an_expired_session_is_refused(api, support, user):
    _, token = start(support, user, minutes=5)
    client = api.with_token(token)

    with freeze_time(timezone.now() + timedelta(minutes=4, seconds=50)):
        assert client.get(ME).status_code == 200
    with freeze_time(timezone.now() + timedelta(minutes=5, seconds=1)):
        response = client.get(ME)

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "This impersonation session has expired"


def test_the_user_deactivated_or_made_staff_during_a_session_is_refused(api, support):
    deactivated, promoted = UserFactory(), UserFactory()
    _, first = start(support, deactivated)
    _, second = start(support, promoted)

    User.objects.filter(pk=deactivated.pk).update(is_active=False)
    User.objects.filter(pk=promoted.pk).update(is_staff=True)

    refused = api.with_token(first).get(ME)
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "This account is deactivated"
    refused = api.with_token(second).get(ME)
    assert refused.status_code == 403
    assert refused.json()["error"]["message"] == "Staff accounts cannot be impersonated"


def test_a_staff_member_who_lost_staff_access_loses_the_session(api, support, user):
    _, token = start(support, user)

    User.objects.filter(pk=support.pk).update(is_active=False)

    assert api.with_token(token).get(ME).status_code == 401


def test_staff_superusers_and_deactivated_users_cannot_be_impersonated(support):
    colleague = User.objects.create_user("colleague@example.com", "pw-0123456789", is_staff=True)
    boss = User.objects.create_superuser("boss@example.com", "pw-0123456789")
    gone = UserFactory(is_active=False)

    for target in (colleague, boss, gone):
        with pytest.raises(AuthorizationError):
            start(support, target)
    assert not Impersonation.objects.exists()


def test_only_staff_with_the_permission_may_impersonate(user):
    staff = User.objects.create_user("plain-staff@example.com", "pw-0123456789", is_staff=True)

    with pytest.raises(AuthorizationError, match="not allowed"):
        start(staff, user)
    assert not Impersonation.objects.exists()


@pytest.mark.parametrize("minutes", [4, 481, 0, -30])
def test_the_duration_is_between_5_and_480_minutes(support, user, minutes):
    with pytest.raises(ValidationError) as error:
        start(support, user, minutes=minutes)

    assert error.value.details["field"] == "minutes"
    assert not Impersonation.objects.exists()


def test_a_reason_is_required(support, user):
    with pytest.raises(ValidationError) as error:
        start(support, user, reason="   ")

    assert error.value.details["field"] == "reason"


def test_every_request_made_with_the_token_is_audited(api, support, user):
    impersonation, token = start(support, user)
    client = api.with_token(token)

    client.get(ME)
    client.get(PROJECTS + "?search=secret")
    client.post(PROJECTS, {"name": "refused"})

    events = list(requests_audited(impersonation))
    assert [(event.changes["method"][1], event.changes["path"][1]) for event in events] == [
        ("GET", ME),
        ("GET", PROJECTS),
        ("POST", PROJECTS),
    ]
    assert {(event.actor_id, event.impersonator_id) for event in events} == {(user.pk, support.pk)}
    assert {event.actor_type for event in events} == {"user"}
    assert "refused" not in events[0].changes
    assert events[2].changes["refused"] == [None, "read-only"]
    assert all(event.request_id for event in events)
    start_event = AuditEvent.objects.get(action="impersonation.start")
    assert start_event.actor_id == support.pk and start_event.actor_type == "staff"
    assert start_event.target_type == "user" and start_event.target_id == user.pk
    assert start_event.changes["minutes"] == [None, 30]
    assert start_event.changes["allow_changes"] == [None, False]
    assert start_event.changes["reason"] == [None, "Ticket 42: sees no projects"]


def test_an_impersonated_request_costs_one_read_and_one_audit_write(
    api, support, user, django_assert_max_num_queries
):
    _, token = start(support, user)
    client = api.with_token(token)

    # users/me reads nothing more; the session and its user are one query, the audit one insert.
    with django_assert_max_num_queries(2):
        response = client.get(ME)

    assert response.status_code == 200


def test_ordinary_requests_are_not_marked(api, user):
    response = api.as_user(user).post(PROJECTS, {"name": "Mine"})

    assert response.status_code == 201
    assert not AuditEvent.objects.filter(action="impersonation.request").exists()


def test_the_access_log_line_carries_the_impersonator(api, support, user, caplog):
    _, token = start(support, user)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestContextFilter())
    fmt = build_logging(level="INFO", json=True)["formatters"]["default"]
    formatter = import_string(fmt["()"])
    handler.setFormatter(
        formatter(fmt["format"], rename_fields=fmt["rename_fields"], timestamp=True)
    )
    access = logging.getLogger("groundwork.access")
    caplog.set_level(logging.INFO, logger="groundwork.access")
    access.addHandler(handler)
    try:
        api.with_token(token).get(ME)
        api.credentials()
        api.as_user(user).get(ME)
    finally:
        access.removeHandler(handler)

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(line["user_id"], line["impersonator_id"]) for line in lines] == [
        (user.pk, support.pk),
        (user.pk, None),
    ]


def test_the_metric_counts_impersonated_requests_by_method(api, support, user, settings):
    settings.METRICS_TOKEN = ""

    def count(method):
        text = api.get("/api/v1/public/metrics").content.decode()
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "groundwork_impersonated_requests_total"
            and sample.labels == {"method": method}
        )

    before_get, before_post = count("GET"), count("POST")
    _, token = start(support, user)
    api.with_token(token)
    api.get(ME)
    api.get(PROJECTS)
    api.post(PROJECTS, {"name": "refused"})
    api.credentials()
    api.as_user(user).get(ME)
    api.credentials()

    assert count("GET") - before_get == 2
    assert count("POST") - before_post == 1


def _claims(staff, user, **overrides):
    now = int(time.time())
    return {
        "iss": "groundwork-console",
        "sub": user.pk,
        "act": {"sub": staff.pk, "email": staff.email},
        "jti": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 600,
        **overrides,
    }


def test_a_token_signed_with_another_key_does_not_impersonate(api, support, user):
    impersonation, _ = start(support, user)
    claims = _claims(support, user, jti=str(impersonation.pk))
    forged_with_provider_secret = jwt.encode(
        claims, django_settings.AUTH_JWT_SECRET, algorithm="HS256"
    )
    forged_with_secret_key = jwt.encode(claims, django_settings.SECRET_KEY, algorithm="HS256")

    for forged in (forged_with_provider_secret, forged_with_secret_key):
        response = api.with_token(forged).get(ME)
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "Token signature is invalid"
    assert not requests_audited(impersonation).exists()


def test_a_provider_token_carrying_an_act_claim_is_an_ordinary_token(api, support, user):
    """The identity provider's token names its own user; an `act` claim in it grants nothing
    and is not an impersonation (not read-only, not audited, not marked)."""
    provider_token = jwt.encode(
        {
            "sub": user.pk,
            "email": user.email,
            "act": {"sub": support.pk},
            "exp": int(time.time()) + 600,
        },
        django_settings.AUTH_JWT_SECRET,
        algorithm="HS256",
    )

    response = api.with_token(provider_token).post(PROJECTS, {"name": "My own"})

    assert response.status_code == 201
    assert response.json()["owner_id"] == user.pk
    assert not AuditEvent.objects.filter(action="impersonation.request").exists()


def test_a_token_for_an_unknown_session_or_another_user_is_refused(api, support, user):
    impersonation, _ = start(support, user)
    key = hmac.new(
        django_settings.SECRET_KEY.encode(),
        b"groundwork.accounts.impersonation-token.v1",
        hashlib.sha256,
    ).digest()
    unknown = jwt.encode(_claims(support, user), key, algorithm="HS256")
    someone_else = jwt.encode(
        _claims(support, UserFactory(), jti=str(impersonation.pk)), key, algorithm="HS256"
    )

    for token in (unknown, someone_else):
        response = api.with_token(token).get(ME)
        assert response.status_code == 401
        assert response.json()["error"]["message"] == "Unknown impersonation session"
