"""Start-up configuration: embedded defaults, and refusal of bad production configuration."""

from __future__ import annotations

from functools import partial

import pytest

from tests import live

# Exactly the variables given: ENVIRONMENT too is up to each test.
run_manage = partial(live.run_manage, environment=None)

GOOD_PRODUCTION = {
    "ENVIRONMENT": "production",
    "SECRET_KEY": "p" * 20 + "r0duct10n-s3cr3t-k3y-w1th-3nough-3ntr0py-xyz",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "api.example.com",
    "DATABASE_URL": "postgres://app:pw@db.internal:5432/app",
    "REDIS_URL": "redis://cache.internal:6379/0",
    "AUTH_JWKS_URL": "https://id.example.com/.well-known/jwks.json",
    "AUTH_ISSUER": "https://id.example.com",
    "AUTH_AUDIENCE": "api.example.com",
    "METRICS_TOKEN": "metrics-scrape-token-0123456789",
}
GOOD_STAGING = {**GOOD_PRODUCTION, "ENVIRONMENT": "staging"}


def last_line(output: str) -> str:
    """What a `manage.py shell -c` script printed last (the shell prints its imports first)."""
    lines = output.strip().splitlines()
    return lines[-1] if lines else ""


# A token anyone can mint with the development secret published in the source.
FORGE = """
import time

import jwt
from django.conf import settings

from accounts.tokens import InvalidToken, verify_token

claims = {"sub": "victim", "exp": int(time.time()) + 600}
if settings.AUTH_ISSUER:
    claims["iss"] = settings.AUTH_ISSUER
if settings.AUTH_AUDIENCE:
    claims["aud"] = settings.AUTH_AUDIENCE
token = jwt.encode(claims, settings.INSECURE_JWT_SECRET, algorithm="HS256")
try:
    verify_token(token)
    print("accepted")
except InvalidToken as error:
    print("refused", error.reason)
"""


@pytest.mark.standalone
def test_production_refuses_to_start_and_lists_every_problem():
    result = run_manage({"ENVIRONMENT": "production", "DEBUG": "true"}, "check")

    assert result.returncode != 0
    message = result.stderr
    assert "Invalid configuration for ENVIRONMENT=production" in message
    for problem in ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"):
        assert f"- {problem}" in message, problem
    assert "AUTH_JWT_SECRET or AUTH_JWKS_URL" in message


@pytest.mark.standalone
def test_production_refuses_weak_secrets():
    env = {**GOOD_PRODUCTION, "SECRET_KEY": "short", "AUTH_JWT_SECRET": "tiny"}

    result = run_manage(env, "check")

    assert result.returncode != 0
    assert "SECRET_KEY is missing or weak" in result.stderr
    assert "AUTH_JWT_SECRET is weak" in result.stderr


@pytest.mark.standalone
def test_production_refuses_sqlite():
    env = {**GOOD_PRODUCTION, "DATABASE_URL": "sqlite:////tmp/prod.sqlite3"}

    result = run_manage(env, "check")

    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr


@pytest.mark.standalone
def test_good_production_configuration_starts():
    result = run_manage(GOOD_PRODUCTION, "check", "--deploy", "--fail-level", "ERROR")

    assert result.returncode == 0, result.stderr


@pytest.mark.standalone
def test_malformed_values_are_listed_in_any_environment():
    env = {
        "ENVIRONMENT": "local",
        "RATE_LIMIT_DEFAULT": "lots",
        "AUTH_LEEWAY_SECONDS": "soon",
        "LOG_FORMAT": "xml",
        "DEBUG": "perhaps",
    }

    result = run_manage(env, "check")

    assert result.returncode != 0
    for name in ("RATE_LIMIT_DEFAULT", "AUTH_LEEWAY_SECONDS", "LOG_FORMAT", "DEBUG"):
        assert f"- {name}" in result.stderr, name


@pytest.mark.standalone
def test_unknown_environment_is_refused():
    result = run_manage({"ENVIRONMENT": "prod"}, "check")

    assert result.returncode != 0
    assert "ENVIRONMENT must be one of local, test, staging, production" in result.stderr


@pytest.mark.standalone
def test_embedded_defaults_need_no_environment_at_all(tmp_path):
    result = run_manage({}, "check")

    assert result.returncode == 0, result.stderr


@pytest.mark.standalone
def test_docs_are_off_in_production_unless_enabled():
    probe = "from django.urls import resolve; resolve('/docs'); print('docs-on')"

    off = run_manage(GOOD_PRODUCTION, "shell", "-c", probe)
    on = run_manage({**GOOD_PRODUCTION, "API_DOCS_ENABLED": "true"}, "shell", "-c", probe)

    assert "docs-on" not in off.stdout and "Resolver404" in off.stderr
    assert "docs-on" in on.stdout, on.stderr


@pytest.mark.standalone
def test_staging_refuses_to_start_like_production():
    result = run_manage({"ENVIRONMENT": "staging", "DEBUG": "true"}, "check")

    assert result.returncode != 0
    message = result.stderr
    assert "Invalid configuration for ENVIRONMENT=staging" in message
    for problem in ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"):
        assert f"- {problem}" in message, problem
    assert "AUTH_JWT_SECRET or AUTH_JWKS_URL" in message


@pytest.mark.standalone
def test_good_staging_configuration_starts():
    result = run_manage(GOOD_STAGING, "check", "--deploy", "--fail-level", "ERROR")

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("environment", [GOOD_STAGING, GOOD_PRODUCTION])
@pytest.mark.standalone
def test_deployed_environments_refuse_tokens_signed_with_the_public_development_secret(
    environment,
):
    result = run_manage(environment, "shell", "-c", FORGE)

    assert last_line(result.stdout) == "refused algorithm", result.stderr


@pytest.mark.standalone
def test_locally_a_configured_jwks_also_turns_the_development_secret_off():
    jwks = {"AUTH_JWKS_URL": "https://id.example.com/.well-known/jwks.json"}

    with_jwks = run_manage({"ENVIRONMENT": "local", **jwks}, "shell", "-c", FORGE)
    bare = run_manage({"ENVIRONMENT": "local"}, "shell", "-c", FORGE)

    assert last_line(with_jwks.stdout) == "refused algorithm", with_jwks.stderr
    # Nothing configured: the development secret runs the project (manage.py devtoken).
    assert last_line(bare.stdout) == "accepted", bare.stderr


@pytest.mark.parametrize(
    ("environment", "changes", "problem"),
    [
        (GOOD_PRODUCTION, {"AUTH_ISSUER": ""}, "AUTH_ISSUER is required with AUTH_JWKS_URL"),
        (
            GOOD_PRODUCTION,
            {"AUTH_AUDIENCE": ""},
            "AUTH_AUDIENCE or AUTH_AUTHORIZED_PARTIES is required with AUTH_JWKS_URL",
        ),
        (
            GOOD_STAGING,
            {"AUTH_AUDIENCE": ""},
            "AUTH_AUDIENCE or AUTH_AUTHORIZED_PARTIES is required with AUTH_JWKS_URL",
        ),
    ],
)
@pytest.mark.standalone
def test_a_jwks_needs_an_issuer_and_an_audience_when_deployed(environment, changes, problem):
    result = run_manage({**environment, **changes}, "check")

    assert result.returncode != 0
    assert f"- {problem}" in result.stderr


@pytest.mark.parametrize(
    "provider",
    [
        # The Supabase preset fills the issuer and the audience.
        {"SUPABASE_URL": "https://abc.supabase.co"},
        # Clerk's preset fills the issuer; its tokens name their authorized party.
        {"CLERK_ISSUER_URL": "https://clerk.example.com", "AUTH_AUTHORIZED_PARTIES": "https://app"},
    ],
)
@pytest.mark.standalone
def test_provider_presets_satisfy_the_issuer_and_audience_rule(provider):
    env = {**GOOD_PRODUCTION, "AUTH_JWKS_URL": "", "AUTH_ISSUER": "", "AUTH_AUDIENCE": ""}

    result = run_manage({**env, **provider}, "check")

    assert result.returncode == 0, result.stderr


@pytest.mark.standalone
def test_metrics_are_not_served_open_when_deployed_unless_said_so():
    open_metrics = {**GOOD_PRODUCTION, "METRICS_TOKEN": ""}

    refused = run_manage(open_metrics, "check")
    opted_out = run_manage({**open_metrics, "METRICS_PUBLIC": "true"}, "check")
    staging = run_manage({**GOOD_STAGING, "METRICS_TOKEN": ""}, "check")

    assert refused.returncode != 0
    assert "- METRICS_TOKEN is required in production" in refused.stderr
    assert "- METRICS_TOKEN is required in staging" in staging.stderr
    assert opted_out.returncode == 0, opted_out.stderr
