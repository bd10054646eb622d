"""Request id, security headers, CORS and the access log."""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from tests.live import live_server, read_log, request

ME = "/api/v1/app/users/me"
HEALTH = "/api/v1/public/health"

pytestmark = pytest.mark.django_db


def test_safe_request_id_is_echoed(api):
    response = api.get(HEALTH, HTTP_X_REQUEST_ID="client-abc_1.2")

    assert response["X-Request-ID"] == "client-abc_1.2"


@pytest.mark.parametrize("unsafe", ["has space", "x" * 129, "semi;colon", "<script>", "ü"])
def test_unsafe_request_id_is_replaced_by_a_uuid(api, unsafe):
    response = api.get(HEALTH, HTTP_X_REQUEST_ID=unsafe)

    assert response["X-Request-ID"] != unsafe
    assert uuid.UUID(response["X-Request-ID"]).version == 4


def test_request_id_is_generated_when_absent_and_differs_per_request(api):
    first = api.get(HEALTH)["X-Request-ID"]
    second = api.get(HEALTH)["X-Request-ID"]

    assert uuid.UUID(first) and uuid.UUID(second) and first != second


def test_error_responses_carry_the_request_id(api):
    response = api.get(ME, HTTP_X_REQUEST_ID="err-1")

    assert response.status_code == 401
    assert response["X-Request-ID"] == "err-1"


def test_api_responses_have_security_headers(api):
    response = api.get(HEALTH)

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert response["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "Strict-Transport-Security" not in response  # HSTS only in production (over HTTPS)


def test_admin_and_docs_pages_get_a_csp_that_lets_them_render(client):
    for path in ("/admin/login/", "/docs", "/redoc"):
        response = client.get(path)
        assert response.status_code == 200, path
        csp = response["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "style-src 'self' 'unsafe-inline'" in csp


def test_hsts_in_production(api, settings):
    settings.SECURE_HSTS_SECONDS = 31_536_000
    response = api.get(HEALTH, secure=True)

    assert response["Strict-Transport-Security"].startswith("max-age=31536000")


def test_cors_preflight_is_answered_with_exposed_headers(api, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]

    response = api.options(
        ME,
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="PATCH",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization, content-type",
    )

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "authorization" in response["Access-Control-Allow-Headers"]
    assert uuid.UUID(response["X-Request-ID"])


def test_cors_exposes_request_id_and_rate_limit_headers(api, user, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]

    response = api.as_user(user).get(ME, HTTP_ORIGIN="https://app.example.com")

    exposed = {
        name.strip().lower() for name in response["Access-Control-Expose-Headers"].split(",")
    }
    assert {"x-request-id", "x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= (
        exposed
    )
    assert response["Access-Control-Allow-Origin"] == "https://app.example.com"


def test_cors_ignores_unknown_origins(api, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]

    response = api.options(
        ME, HTTP_ORIGIN="https://evil.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )

    assert "Access-Control-Allow-Origin" not in response


def test_preflight_is_answered_even_when_the_rate_limit_is_spent(api, user, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    settings.RATE_LIMITS = {"default": "1/hour", "ai": "1/hour"}
    client = api.as_user(user)
    client.get(ME)
    assert client.get(ME).status_code == 429

    response = client.options(
        ME, HTTP_ORIGIN="https://app.example.com", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )

    assert response.status_code == 200


def test_access_log_line_has_request_context_and_no_credentials(api, user, caplog):
    client = api.as_user(user)
    token = client._credentials["HTTP_AUTHORIZATION"].split()[1]

    with caplog.at_level(logging.INFO, logger="groundwork.access"):
        client.get(ME + "?secret=query", HTTP_X_REQUEST_ID="log-me-1", HTTP_COOKIE="sessionid=s3")

    [record] = [r for r in caplog.records if r.name == "groundwork.access"]
    assert record.request_id == "log-me-1"
    assert record.user_id == user.pk
    assert (record.method, record.path, record.status) == ("GET", ME, 200)
    assert record.duration_ms >= 0
    assert token not in caplog.text and "secret=query" not in caplog.text
    assert "s3" not in caplog.text


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_json_logs_from_a_real_server(live_database_url, unique_subject):
    from accounts.tokens import mint_development_token

    token = mint_development_token(email="json@example.com", subject=unique_subject)
    env = {"LOG_FORMAT": "json", "DATABASE_URL": live_database_url, "LOG_LEVEL": "info"}
    with live_server(env) as url:
        status, _, _ = request(
            "GET", url + ME, headers={"Authorization": f"Bearer {token}", "X-Request-ID": "j-1"}
        )
        assert status == 200
        lines = [json.loads(line) for line in read_log(url).splitlines() if line.startswith("{")]

    [access] = [
        line
        for line in lines
        if line.get("logger") == "groundwork.access" and line.get("request_id") == "j-1"
    ]
    assert access["request_id"] == "j-1"
    assert access["user_id"] == unique_subject
    assert (access["method"], access["path"], access["status"]) == ("GET", ME, 200)
    assert {"timestamp", "level", "message", "duration_ms"} <= set(access)
    assert token not in read_log(url)


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}


def assert_security_headers(headers) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert headers.get(name) == value, (name, headers.items())
    assert headers.get("X-Request-ID")


def test_413_before_routing_carries_the_security_headers(api, user, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    body = json.dumps({"full_name": "x" * 2000})

    response = api.as_user(user).generic("PATCH", ME, body, content_type="application/json")

    assert response.status_code == 413
    assert_security_headers(response)


def test_parser_400_carries_the_security_headers(api, user):
    response = api.as_user(user).generic("PATCH", ME, b'{"full_', content_type="application/json")

    assert response.status_code == 400
    assert_security_headers(response)


@pytest.mark.parametrize("host", ["evil.example.com", "bad host", "[::1", "a" * 300])
def test_disallowed_or_malformed_host_400_carries_the_security_headers(api, host):
    response = api.get(HEALTH, HTTP_HOST=host, HTTP_X_REQUEST_ID="host-1")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BAD_REQUEST"
    assert_security_headers(response)
    assert response["X-Request-ID"] == "host-1"


def test_bad_content_length_400_carries_the_security_headers(api):
    response = api.generic("POST", HEALTH, b"{}", CONTENT_LENGTH="x")

    assert response.status_code == 400
    assert_security_headers(response)


def test_query_nul_422_carries_the_security_headers(api, user):
    response = api.as_user(user).get("/api/v1/app/projects?search=%00")

    assert response.status_code == 422
    assert_security_headers(response)


def test_cors_preflight_carries_the_security_headers(api, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]

    response = api.options(
        ME,
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
    )

    assert response.status_code == 200
    assert_security_headers(response)


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_early_errors_of_a_real_server_carry_the_security_headers(live_database_url):
    env = {"DATABASE_URL": live_database_url, "DATA_UPLOAD_MAX_MEMORY_SIZE": "2048"}
    with live_server(env) as url:
        too_large = request(
            "POST",
            url + "/api/v1/app/projects",
            headers={"Content-Type": "application/json"},
            body=b"{" + b" " * 4096 + b"}",
        )
        bad_host = request("GET", url + HEALTH, headers={"Host": "evil.example.com"})
        bad_json = request(
            "POST",
            url + "/api/v1/public/webhooks/supabase",
            headers={"Content-Type": "application/json"},
            body=b"[" * 1500,
        )

    assert too_large[0] == 413
    assert bad_host[0] == 400
    assert bad_json[0] in (400, 401, 503)
    for _status, headers, body in (too_large, bad_host, bad_json):
        assert_security_headers(headers)
        assert json.loads(body)["error"]["code"]
