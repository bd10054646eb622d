"""One error envelope for every error (API.md §2)."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests.factories import UserFactory

ME = "/api/v1/app/users/me"

pytestmark = pytest.mark.django_db


def assert_envelope(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert isinstance(body["error"]["details"], dict)
    return body["error"]


def test_malformed_json_is_400(api, user):
    response = api.as_user(user).generic(
        "PATCH", ME, '{"full_name": ', content_type="application/json"
    )

    assert_envelope(response, 400, "BAD_REQUEST")


def test_invalid_utf8_body_is_400(api, user):
    response = api.as_user(user).generic("PATCH", ME, b"\xff\xfe{", content_type="application/json")

    assert_envelope(response, 400, "BAD_REQUEST")


def test_missing_token_is_401_with_www_authenticate(api):
    response = api.get(ME)

    assert_envelope(response, 401, "AUTHENTICATION_ERROR")
    assert response["WWW-Authenticate"] == "Bearer"


def test_deactivated_user_is_403(api):
    user = UserFactory(is_active=False)

    assert_envelope(api.as_user(user).get(ME), 403, "AUTHORIZATION_ERROR")


@pytest.mark.parametrize("path", ["/api/v1/app/nothing-here", "/api/v2/users", "/elsewhere"])
def test_unknown_urls_are_404(api, path):
    assert_envelope(api.get(path), 404, "NOT_FOUND")


def test_unknown_url_is_json_even_with_debug_on(api, settings):
    settings.DEBUG = True

    assert_envelope(api.get("/no/such/page"), 404, "NOT_FOUND")


def test_wrong_method_is_405(api, user):
    response = api.as_user(user).post(ME, {})

    error = assert_envelope(response, 405, "METHOD_NOT_ALLOWED")
    assert "POST" in error["message"]
    assert "GET" in response["Allow"]


def test_put_is_not_offered(api, user):
    assert_envelope(api.as_user(user).put(ME, {"full_name": "x"}), 405, "METHOD_NOT_ALLOWED")


def test_declared_body_over_the_limit_is_413(api, user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"full_name": "x" * 2000})

    response = api.as_user(user).generic("PATCH", ME, body, content_type="application/json")

    error = assert_envelope(response, 413, "PAYLOAD_TOO_LARGE")
    assert error["details"]["limit_bytes"] == 1024


def test_form_body_is_415(api, user):
    response = api.as_user(user).patch(ME, {"full_name": "x"}, format="multipart")

    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_text_body_is_415(api, user):
    response = api.as_user(user).generic("PATCH", ME, "full_name=x", content_type="text/plain")

    assert_envelope(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_validation_error_is_422_with_field_details(api, user):
    response = api.as_user(user).patch(ME, {"full_name": "x" * 300, "avatar_url": "nope"})

    error = assert_envelope(response, 422, "VALIDATION_ERROR")
    assert error["details"]["field"] == "full_name"
    fields = [item["field"] for item in error["details"]["errors"]]
    assert fields == ["full_name", "avatar_url"]
    assert all(item["message"] and item["code"] for item in error["details"]["errors"])


def test_accept_header_does_not_change_the_format(api, user):
    response = api.as_user(user).get(ME, HTTP_ACCEPT="text/html")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.urls("tests.config.urls")
@pytest.mark.parametrize("debug", [False, True])
def test_unexpected_api_error_is_500_without_traceback(settings, debug):
    settings.DEBUG = debug
    client = Client(raise_request_exception=False)

    response = client.get("/api/v1/public/test-failure", HTTP_X_REQUEST_ID="trace-me-123")

    error = assert_envelope(response, 500, "INTERNAL_ERROR")
    assert error["details"]["request_id"] == "trace-me-123"
    assert b"secret internals" not in response.content
    assert b"Traceback" not in response.content


@pytest.mark.urls("tests.config.urls")
@pytest.mark.parametrize("debug", [False, True])
def test_unexpected_django_error_is_500_without_traceback(settings, debug):
    settings.DEBUG = debug
    client = Client(raise_request_exception=False)

    response = client.get("/test-failure")

    error = assert_envelope(response, 500, "INTERNAL_ERROR")
    assert error["details"]["request_id"] == response["X-Request-ID"]
    assert b"secret internals" not in response.content


def test_csrf_failure_is_403_envelope():
    client = Client(enforce_csrf_checks=True)

    response = client.post("/admin/login/", {"username": "a", "password": "b"})

    error = assert_envelope(response, 403, "AUTHORIZATION_ERROR")
    assert "CSRF" in error["message"]


def test_bad_content_length_header_is_400(api):
    response = api.generic(
        "POST",
        "/api/v1/public/health",
        b"{}",
        content_type="application/json",
        CONTENT_LENGTH="abc",
    )

    assert_envelope(response, 400, "BAD_REQUEST")
