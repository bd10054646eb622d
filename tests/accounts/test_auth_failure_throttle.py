"""Refused tokens are throttled per client IP (issue 12, finding 10): DRF authenticates before
it throttles, so without this an attacker could try tokens forever."""

from __future__ import annotations

import pytest

from accounts.tokens import mint_development_token

pytestmark = pytest.mark.django_db

URL = "/api/v1/app/projects"
ATTACKER = "203.0.113.7"
NEIGHBOUR = "198.51.100.9"


@pytest.fixture(autouse=True)
def three_failures_a_minute(settings):
    settings.RATE_LIMIT_AUTH_FAILURES = "3/minute"


def get(api, token: str, ip: str = ATTACKER):
    return api.get(URL, HTTP_AUTHORIZATION=f"Bearer {token}", REMOTE_ADDR=ip)


def test_an_ip_that_keeps_failing_is_answered_429_before_any_verification(api, user):
    refused = [get(api, f"forged.token.{n}").status_code for n in range(3)]
    assert refused == [401, 401, 401]

    blocked = get(api, "forged.token.4")
    # Even a valid token: the answer comes before verification.
    valid = get(api, mint_development_token(email=user.email, subject=user.pk))

    for response in (blocked, valid):
        assert response.status_code == 429, response.content
        error = response.json()["error"]
        assert error["code"] == "RATE_LIMIT_EXCEEDED"
        retry_after = int(response["Retry-After"])
        assert 1 <= retry_after <= 60
        assert error["details"]["retry_after"] == retry_after


def test_other_ips_and_requests_without_a_token_are_not_affected(api, user):
    for n in range(4):
        get(api, f"forged.token.{n}")

    assert get(api, "forged.token.x", ip=NEIGHBOUR).status_code == 401
    own = get(api, mint_development_token(email=user.email, subject=user.pk), ip=NEIGHBOUR)
    assert own.status_code == 200
    anonymous = api.get(URL, REMOTE_ADDR=ATTACKER)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "AUTHENTICATION_ERROR"


def test_valid_tokens_do_not_count(api, user):
    token = mint_development_token(email=user.email, subject=user.pk)

    statuses = [get(api, token).status_code for _ in range(5)]

    assert statuses == [200] * 5
    assert get(api, "forged.token").status_code == 401
