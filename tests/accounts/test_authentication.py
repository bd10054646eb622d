"""Bearer token verification (API.md §4) through the real API."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import jwt
import pytest
from django.utils import timezone
from freezegun import freeze_time

from accounts.models import User
from tests.factories import UserFactory
from tests.jwt_keys import SigningKey, claims, jwks

URL = "/api/v1/app/users/me"
SECRET = "test-secret-that-is-long-enough-for-hs256-0123456789"

pytestmark = pytest.mark.django_db


@pytest.fixture
def hs256(settings):
    settings.AUTH_JWT_SECRET = SECRET
    settings.AUTH_JWKS_URL = ""
    settings.AUTH_ISSUER = ""
    settings.AUTH_AUDIENCE = ""
    settings.AUTH_AUTHORIZED_PARTIES = []
    settings.AUTH_LEEWAY_SECONDS = 30
    return settings


@pytest.fixture
def rsa_key():
    return SigningKey.rsa("rsa-1")


@pytest.fixture
def ec_key():
    return SigningKey.ec("ec-1")


@pytest.fixture
def jwks_only(settings, httpserver, rsa_key, ec_key):
    """Only a JWKS is configured (no shared secret), served by a local HTTP server."""
    httpserver.expect_request("/.well-known/jwks.json").respond_with_json(jwks(rsa_key, ec_key))
    settings.AUTH_JWT_SECRET = ""
    settings.AUTH_JWKS_URL = httpserver.url_for("/.well-known/jwks.json")
    settings.AUTH_ISSUER = ""
    settings.AUTH_AUDIENCE = ""
    settings.AUTH_AUTHORIZED_PARTIES = []
    return httpserver


def hs_token(payload, secret=SECRET, **headers):
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


def get_me(api, token):
    return api.with_token(token).get(URL)


def assert_unauthenticated(response):
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"


# --- HS256 -------------------------------------------------------------------------------------


def test_valid_hs256_token_is_accepted(api, hs256, unique_subject):
    response = get_me(api, hs_token(claims(unique_subject, email="a@example.com")))

    assert response.status_code == 200
    assert response.json()["id"] == unique_subject


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", "Bearer a b", "Token abc", "bearer not-a-jwt"],
)
def test_malformed_authorization_headers_are_rejected(api, hs256, header):
    response = api.get(URL, HTTP_AUTHORIZATION=header)

    assert_unauthenticated(response)


def test_alg_none_is_rejected(api, hs256, unique_subject):
    token = jwt.encode(claims(unique_subject), key=None, algorithm="none")

    assert_unauthenticated(get_me(api, token))
    assert not User.objects.filter(pk=unique_subject).exists()


def test_token_signed_with_another_secret_is_rejected(api, hs256, unique_subject):
    token = hs_token(claims(unique_subject), secret="another-secret-that-is-also-long-enough-x")

    assert_unauthenticated(get_me(api, token))


def test_tampered_payload_is_rejected(api, hs256, unique_subject):
    header, _, signature = hs_token(claims(unique_subject)).split(".")
    forged = base64.urlsafe_b64encode(json.dumps(claims("admin")).encode()).rstrip(b"=").decode()

    assert_unauthenticated(get_me(api, f"{header}.{forged}.{signature}"))


def test_expired_beyond_leeway_is_rejected(api, hs256, unique_subject):
    payload = claims(unique_subject)
    payload["exp"] = int(time.time()) - 31 - 5

    response = get_me(api, hs_token(payload))

    assert_unauthenticated(response)
    assert "expired" in response.json()["error"]["message"]


def test_expired_within_leeway_is_accepted(api, hs256, unique_subject):
    payload = claims(unique_subject)
    payload["exp"] = int(time.time()) - 20

    assert get_me(api, hs_token(payload)).status_code == 200


@pytest.mark.parametrize("missing", ["exp", "sub"])
def test_missing_required_claim_is_rejected(api, hs256, unique_subject, missing):
    payload = claims(unique_subject)
    del payload[missing]

    assert_unauthenticated(get_me(api, hs_token(payload)))


@pytest.mark.parametrize("subject", ["", "   ", "x" * 256, 42])
def test_invalid_subject_is_rejected(api, hs256, subject):
    payload = claims("placeholder")
    payload["sub"] = subject

    assert_unauthenticated(get_me(api, hs_token(payload)))


def test_issuer_and_audience_are_checked_when_configured(api, hs256, unique_subject):
    hs256.AUTH_ISSUER = "https://id.example.com/"
    hs256.AUTH_AUDIENCE = "groundwork-api"
    good = claims(unique_subject, iss="https://id.example.com/", aud="groundwork-api")

    assert get_me(api, hs_token(good)).status_code == 200
    for bad in (
        {**good, "iss": "https://evil.example.com/"},
        {**good, "aud": "another-api"},
        {key: value for key, value in good.items() if key != "aud"},
        {key: value for key, value in good.items() if key != "iss"},
    ):
        assert_unauthenticated(get_me(api, hs_token(bad)))


def test_audience_in_token_is_ignored_when_none_is_configured(api, hs256, unique_subject):
    response = get_me(api, hs_token(claims(unique_subject, aud="whatever")))

    assert response.status_code == 200


def test_authorized_party_must_be_listed_when_configured(api, hs256, unique_subject):
    hs256.AUTH_AUTHORIZED_PARTIES = ["https://app.example.com"]

    allowed = hs_token(claims(unique_subject, azp="https://app.example.com"))
    foreign = hs_token(claims(unique_subject, azp="https://evil.example.com"))

    assert get_me(api, allowed).status_code == 200
    assert_unauthenticated(get_me(api, foreign))


def test_token_from_the_future_is_rejected(api, hs256, unique_subject):
    payload = claims(unique_subject)
    payload["iat"] = int(time.time()) + 3600
    payload["exp"] = payload["iat"] + 300

    assert_unauthenticated(get_me(api, hs_token(payload)))


# --- JWKS (RS256 / ES256) ---------------------------------------------------------------------


@pytest.mark.parametrize("key_name", ["rsa_key", "ec_key"])
def test_jwks_signed_tokens_are_accepted(api, jwks_only, request, key_name, unique_subject):
    key = request.getfixturevalue(key_name)

    response = get_me(api, key.sign(claims(unique_subject)))

    assert response.status_code == 200
    assert response.json()["id"] == unique_subject


def test_hs256_is_refused_when_only_jwks_is_configured(api, jwks_only, unique_subject):
    assert_unauthenticated(get_me(api, hs_token(claims(unique_subject))))


def test_hs256_token_made_with_the_rsa_public_key_is_rejected(
    api, jwks_only, rsa_key, unique_subject
):
    """The classic key-confusion attack: HMAC keyed with the published public key."""
    public_pem = rsa_key.public_pem()
    header = base64.urlsafe_b64encode(
        json.dumps({"alg": "HS256", "typ": "JWT", "kid": rsa_key.kid}).encode()
    )
    payload = base64.urlsafe_b64encode(json.dumps(claims(unique_subject)).encode())
    signing_input = header.rstrip(b"=") + b"." + payload.rstrip(b"=")
    import hashlib
    import hmac

    signature = hmac.new(public_pem, signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + base64.urlsafe_b64encode(signature).rstrip(b"=")).decode()

    assert_unauthenticated(get_me(api, token))
    assert not User.objects.filter(pk=unique_subject).exists()


def test_unknown_kid_is_rejected(api, jwks_only, unique_subject):
    stranger = SigningKey.rsa("not-published")

    response = get_me(api, stranger.sign(claims(unique_subject)))

    assert_unauthenticated(response)


def test_token_signed_by_another_key_under_a_known_kid_is_rejected(
    api, jwks_only, rsa_key, unique_subject
):
    impostor = SigningKey.rsa(rsa_key.kid)

    assert_unauthenticated(get_me(api, impostor.sign(claims(unique_subject))))


def test_jwks_is_cached_and_refetched_at_most_once_a_minute(
    api, jwks_only, rsa_key, unique_subject
):
    assert get_me(api, rsa_key.sign(claims(unique_subject))).status_code == 200
    assert get_me(api, rsa_key.sign(claims(unique_subject))).status_code == 200
    fetches_after_valid_tokens = len(jwks_only.log)

    for index in range(5):
        stranger = SigningKey.ec(f"unknown-{index}")
        assert_unauthenticated(get_me(api, stranger.sign(claims(unique_subject))))

    assert fetches_after_valid_tokens == 1
    assert len(jwks_only.log) == 1  # unknown kids within the minute do not refetch


def test_rotated_key_is_picked_up_after_the_refresh_interval(
    api, jwks_only, rsa_key, settings, unique_subject
):
    settings.AUTH_JWKS_MIN_REFRESH_SECONDS = 1
    assert get_me(api, rsa_key.sign(claims(unique_subject))).status_code == 200
    rotated = SigningKey.ec("rotated")
    jwks_only.clear()
    jwks_only.expect_request("/.well-known/jwks.json").respond_with_json(jwks(rotated))

    time.sleep(1.1)
    response = get_me(api, rotated.sign(claims(unique_subject)))

    assert response.status_code == 200


def test_unreachable_jwks_is_a_503(api, settings, unique_subject):
    settings.AUTH_JWT_SECRET = ""
    settings.AUTH_JWKS_URL = "http://127.0.0.1:9/jwks.json"

    response = get_me(api, SigningKey.rsa("k").sign(claims(unique_subject)))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"


# --- Users from claims ------------------------------------------------------------------------


def test_first_request_creates_the_user_from_supabase_metadata(api, hs256):
    payload = claims(
        "8c8d7a6e-0f5b-4a3b-9d52-6f1d2f0b9a11",
        role="authenticated",
        user_metadata={
            "email": "meta@example.com",
            "full_name": "Meta Person",
            "avatar_url": "https://avatars.example.com/meta.png",
        },
    )

    response = get_me(api, hs_token(payload))

    assert response.status_code == 200
    user = User.objects.get(pk="8c8d7a6e-0f5b-4a3b-9d52-6f1d2f0b9a11")
    assert user.email == "meta@example.com"
    assert user.full_name == "Meta Person"
    assert user.avatar_url == "https://avatars.example.com/meta.png"
    assert user.role == "user"  # a role claim never grants anything
    assert not user.has_usable_password()


def test_first_request_creates_the_user_from_oidc_claims(api, hs256):
    payload = claims(
        "user_2abcDEF", email="Oidc@Example.com", name="Oidc Person", picture="https://x.io/p.png"
    )

    get_me(api, hs_token(payload))

    user = User.objects.get(pk="user_2abcDEF")
    assert (user.email, user.full_name, user.avatar_url) == (
        "oidc@example.com",
        "Oidc Person",
        "https://x.io/p.png",
    )


def test_two_subjects_with_one_email_are_two_users(api, hs256):
    get_me(api, hs_token(claims("google|1", email="same@example.com")))
    get_me(api, hs_token(claims("github|2", email="same@example.com")))

    assert User.objects.filter(email="same@example.com").count() == 2


def test_invalid_profile_claims_are_dropped_not_fatal(api, hs256, unique_subject):
    payload = claims(unique_subject, email="not-an-email", picture="javascript:alert(1)")

    response = get_me(api, hs_token(payload))

    assert response.status_code == 200
    assert response.json()["email"] == ""
    assert response.json()["avatar_url"] is None


def test_deactivated_user_gets_403(api, hs256):
    user = UserFactory(is_active=False)

    response = get_me(api, hs_token(claims(user.pk)))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "AUTHORIZATION_ERROR"


def test_last_login_is_written_at_most_hourly(api, hs256):
    user = UserFactory()
    token_at = lambda: hs_token(claims(user.pk))  # noqa: E731

    with freeze_time(timezone.now()) as frozen:
        get_me(api, token_at())
        get_me(api, token_at())
        user.refresh_from_db()
        first_login = user.last_login_at
        assert user.login_count == 1

        frozen.tick(timedelta(minutes=59))
        get_me(api, token_at())
        user.refresh_from_db()
        assert (user.login_count, user.last_login_at) == (1, first_login)

        frozen.tick(timedelta(minutes=2))
        get_me(api, token_at())
        user.refresh_from_db()
        assert user.login_count == 2
        assert user.last_login_at > first_login
