"""Every refusal of credentials is counted in `groundwork_auth_failures_total{reason}`, read from
the real metrics endpoint: exactly one increment, under the reason that names the cause."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jwt
import pytest
from django.conf import settings as django_settings
from django.contrib.auth.models import Permission
from prometheus_client.parser import text_string_to_metric_families

from accounts.impersonation import impersonation_end, impersonation_start
from accounts.models import User
from tests.conftest import ApiClient
from tests.factories import UserFactory
from tests.jwt_keys import SigningKey, claims, jwks

ME = "/api/v1/app/users/me"
PROJECTS = "/api/v1/app/projects"
METRICS = "/api/v1/public/metrics"
FAMILY = "groundwork_auth_failures_total"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def open_metrics(settings: Any) -> None:
    settings.METRICS_TOKEN = ""


def failures() -> dict[str, float]:
    """The counter's value per reason, as a scrape of the metrics endpoint shows it."""
    text = ApiClient().get(METRICS).content.decode()
    return {
        sample.labels["reason"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == FAMILY
    }


def counted(action: Callable[[], Any]) -> tuple[Any, dict[str, float]]:
    """Run `action` (a request); its response and how each reason's count changed."""
    before = failures()
    response = action()
    after = failures()
    changed = {
        reason: after.get(reason, 0.0) - before.get(reason, 0.0)
        for reason in set(before) | set(after)
        if after.get(reason, 0.0) != before.get(reason, 0.0)
    }
    return response, changed


def hs256(payload: dict[str, Any], secret: str | None = None, **headers: Any) -> str:
    return jwt.encode(
        payload, secret or django_settings.AUTH_JWT_SECRET, algorithm="HS256", headers=headers
    )


def get_me(token: str | None = None) -> Any:
    client = ApiClient()
    if token is not None:
        client.with_token(token)
    return client.get(ME)


def test_a_valid_token_and_a_public_endpoint_count_nothing(user):
    response, changed = counted(lambda: ApiClient().as_user(user).get(ME))
    assert response.status_code == 200 and changed == {}

    response, changed = counted(lambda: ApiClient().get("/api/v1/public/health"))
    assert response.status_code == 200 and changed == {}


def test_no_credentials_on_a_protected_endpoint_count_as_missing(db):
    response, changed = counted(lambda: get_me())

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"
    assert changed == {"missing": 1}


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("Basic dXNlcjpwYXNz", "malformed"),
        ("Bearer", "malformed"),
        ("Bearer not-a-jwt", "malformed"),
    ],
)
def test_a_malformed_header_counts_as_malformed(db, header, reason):
    response, changed = counted(lambda: ApiClient().get(ME, HTTP_AUTHORIZATION=header))

    assert response.status_code == 401
    assert changed == {reason: 1}


def bad_tokens(unique: str) -> dict[str, tuple[str, dict[str, Any]]]:
    """Token → (reason, settings it needs) for every way a provider token can be wrong."""
    return {
        "signature": (hs256(claims(unique), secret="another-secret-" + "x" * 40), {}),
        "expired": (hs256(claims(unique, ttl=-3600)), {}),
        "claims": (hs256({"exp": claims(unique)["exp"]}), {}),
        "algorithm": (
            jwt.encode(claims(unique), key=None, algorithm="none"),  # type: ignore[arg-type]
            {},
        ),
        "issuer": (
            hs256(claims(unique, iss="https://evil.example")),
            {"AUTH_ISSUER": "https://id.example"},
        ),
        "audience": (
            hs256(claims(unique, aud="someone-else")),
            {"AUTH_AUDIENCE": "groundwork"},
        ),
        "azp": (
            hs256(claims(unique, azp="https://evil.example")),
            {"AUTH_AUTHORIZED_PARTIES": ["https://app.example"]},
        ),
    }


@pytest.mark.parametrize(
    "reason", ["signature", "expired", "claims", "algorithm", "issuer", "audience", "azp"]
)
def test_each_bad_provider_token_counts_under_its_reason(settings, unique_subject, reason):
    token, needs = bad_tokens(unique_subject)[reason]
    for name, value in needs.items():
        setattr(settings, name, value)

    response, changed = counted(lambda: get_me(token))

    assert response.status_code == 401
    assert changed == {reason: 1}


def test_an_unknown_key_id_counts_as_unknown_kid(settings, httpserver, unique_subject):
    known, unknown = SigningKey.rsa("known"), SigningKey.rsa("unknown")
    httpserver.expect_request("/jwks.json").respond_with_json(jwks(known))
    settings.AUTH_JWKS_URL = httpserver.url_for("/jwks.json")

    response, changed = counted(lambda: get_me(unknown.sign(claims(unique_subject))))

    assert response.status_code == 401
    assert changed == {"unknown_kid": 1}


def test_keys_that_cannot_be_fetched_count_as_jwks_unavailable(settings, unique_subject):
    settings.AUTH_JWT_SECRET = ""
    settings.AUTH_JWKS_URL = "http://127.0.0.1:9/jwks.json"

    response, changed = counted(lambda: get_me(SigningKey.rsa("k").sign(claims(unique_subject))))

    assert response.status_code == 503
    assert changed == {"jwks_unavailable": 1}


def test_a_deactivated_user_counts_as_deactivated(db):
    user = UserFactory(is_active=False)

    response, changed = counted(lambda: ApiClient().as_user(user).get(ME))

    assert response.status_code == 403
    assert changed == {"deactivated": 1}


def test_requests_refused_by_the_failure_limit_count_as_rate_limited(settings, user):
    settings.RATE_LIMIT_AUTH_FAILURES = "2/minute"
    for _ in range(2):
        assert get_me("forged.token.x").status_code == 401

    response, changed = counted(lambda: ApiClient().as_user(user).get(ME))

    assert response.status_code == 429
    assert changed == {"rate_limited": 1}


@pytest.fixture
def support(db: None) -> User:
    member = User.objects.create_user(
        "support@example.com", "a-long-support-password-1", is_staff=True
    )
    member.user_permissions.add(Permission.objects.get(codename="impersonate_user"))
    return User.objects.get(pk=member.pk)


def session_token(support: User, user: User) -> tuple[Any, str]:
    return impersonation_start(
        staff=support, user=user, reason="Ticket 7", minutes=30, allow_changes=False
    )


def test_impersonation_refusals_count_under_their_reasons(support):
    read_only_user, deactivated, ended = UserFactory(), UserFactory(), UserFactory()
    _, read_only = session_token(support, read_only_user)
    _, of_deactivated = session_token(support, deactivated)
    session, of_ended = session_token(support, ended)
    User.objects.filter(pk=deactivated.pk).update(is_active=False)
    impersonation_end(impersonation=session, ended_by=support)

    write = lambda: ApiClient().with_token(read_only).post(PROJECTS, {"name": "x"})  # noqa: E731
    for action, status, reason in (
        (write, 403, "impersonation_read_only"),
        (lambda: get_me(of_deactivated), 403, "impersonation_refused"),
        (lambda: get_me(of_ended), 401, "impersonation_ended"),
    ):
        response, changed = counted(action)
        assert response.status_code == status, reason
        assert changed == {reason: 1}
    # A read in the read-only session is allowed and counts nothing.
    response, changed = counted(lambda: get_me(read_only))
    assert response.status_code == 200 and changed == {}


def test_a_failed_staff_sign_in_to_the_admin_counts_as_staff_password(client, db):
    User.objects.create_user("admin@example.com", "a-long-staff-password-1", is_staff=True)
    login = "/admin/login/?next=/admin/"

    response, changed = counted(
        lambda: client.post(login, {"username": "admin@example.com", "password": "wrong-one"})
    )
    assert response.status_code == 200
    assert changed == {"staff_password": 1}

    response, changed = counted(
        lambda: client.post(
            login, {"username": "admin@example.com", "password": "a-long-staff-password-1"}
        )
    )
    assert response.status_code == 302 and changed == {}
