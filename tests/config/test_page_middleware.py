"""Pages get sessions, CSRF and the admin's middleware; the JSON API skips them."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

pytestmark = pytest.mark.django_db


def test_api_responses_carry_no_cookie_and_their_length(api, user):
    response = api.as_user(user).get("/api/v1/app/users/me")

    assert response.status_code == 200
    assert response.cookies == {}
    assert int(response["Content-Length"]) == len(response.content)
    assert response["X-Frame-Options"] == "DENY"


def test_the_admin_still_refuses_a_sign_in_without_its_csrf_token(staff):
    browser = Client(enforce_csrf_checks=True)
    page = browser.get("/admin/login/")
    assert page.status_code == 200
    assert "csrftoken" in page.cookies

    refused = browser.post("/admin/login/", {"username": staff.email, "password": "x"})

    assert refused.status_code == 403


def test_the_admin_signs_in_with_a_session(client, staff):
    response = client.get("/admin/")

    assert response.status_code == 200
    assert response["X-Frame-Options"] == "DENY"
    assert "sessionid" in client.cookies


def test_the_system_check_wants_the_page_middleware(settings):
    settings.PAGE_MIDDLEWARE = [
        path
        for path in settings.PAGE_MIDDLEWARE
        if path != "django.middleware.csrf.CsrfViewMiddleware"
    ]

    with pytest.raises(SystemCheckError, match="CsrfViewMiddleware must be in PAGE_MIDDLEWARE"):
        call_command("check")


def test_api_requests_still_check_the_host(api):
    response = api.get("/api/v1/public/health", HTTP_HOST="evil.example.com")

    assert response.status_code == 400
    assert response.json()["error"]["code"]
