"""`manage.py devtoken EMAIL`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User

pytestmark = pytest.mark.django_db


def devtoken(*args: str) -> str:
    out = StringIO()
    call_command("devtoken", *args, stdout=out)
    return out.getvalue().strip()


def test_printed_token_calls_the_api(api):
    token = devtoken("newcomer@example.com", "--name", "New Comer")

    response = api.with_token(token).get("/api/v1/app/users/me")

    assert response.status_code == 200
    assert response.json()["email"] == "newcomer@example.com"
    assert response.json()["full_name"] == "New Comer"


def test_same_email_gives_the_same_user(api):
    for _ in range(2):
        api.with_token(devtoken("again@example.com")).get("/api/v1/app/users/me")

    assert User.objects.filter(email="again@example.com").count() == 1


def test_explicit_subject_and_issuer_audience(api, settings):
    settings.AUTH_ISSUER = "https://issuer.example.com"
    settings.AUTH_AUDIENCE = "authenticated"

    token = devtoken("sub@example.com", "--sub", "custom-subject-1")

    response = api.with_token(token).get("/api/v1/app/users/me")
    assert response.status_code == 200
    assert response.json()["id"] == "custom-subject-1"


def test_refused_in_production(settings):
    settings.IS_PRODUCTION = True

    with pytest.raises(CommandError, match="disabled in production"):
        devtoken("prod@example.com")


def test_refused_without_a_secret(settings):
    settings.AUTH_JWT_SECRET = ""

    with pytest.raises(CommandError, match="AUTH_JWT_SECRET"):
        devtoken("nosecret@example.com")
