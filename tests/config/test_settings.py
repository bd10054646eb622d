"""Start-up configuration: embedded defaults, and refusal of bad production configuration."""

from __future__ import annotations

from functools import partial

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
}


def test_production_refuses_to_start_and_lists_every_problem():
    result = run_manage({"ENVIRONMENT": "production", "DEBUG": "true"}, "check")

    assert result.returncode != 0
    message = result.stderr
    assert "Invalid configuration for ENVIRONMENT=production" in message
    for problem in ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL"):
        assert f"- {problem}" in message, problem
    assert "AUTH_JWT_SECRET or AUTH_JWKS_URL" in message


def test_production_refuses_weak_secrets():
    env = {**GOOD_PRODUCTION, "SECRET_KEY": "short", "AUTH_JWT_SECRET": "tiny"}

    result = run_manage(env, "check")

    assert result.returncode != 0
    assert "SECRET_KEY is missing or weak" in result.stderr
    assert "AUTH_JWT_SECRET is weak" in result.stderr


def test_production_refuses_sqlite():
    env = {**GOOD_PRODUCTION, "DATABASE_URL": "sqlite:////tmp/prod.sqlite3"}

    result = run_manage(env, "check")

    assert result.returncode != 0
    assert "DATABASE_URL must point at PostgreSQL" in result.stderr


def test_good_production_configuration_starts():
    result = run_manage(GOOD_PRODUCTION, "check", "--deploy", "--fail-level", "ERROR")

    assert result.returncode == 0, result.stderr


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


def test_unknown_environment_is_refused():
    result = run_manage({"ENVIRONMENT": "prod"}, "check")

    assert result.returncode != 0
    assert "ENVIRONMENT must be one of local, test, staging, production" in result.stderr


def test_embedded_defaults_need_no_environment_at_all(tmp_path):
    result = run_manage({}, "check")

    assert result.returncode == 0, result.stderr


def test_docs_are_off_in_production_unless_enabled():
    probe = "from django.urls import resolve; resolve('/docs'); print('docs-on')"

    off = run_manage(GOOD_PRODUCTION, "shell", "-c", probe)
    on = run_manage({**GOOD_PRODUCTION, "API_DOCS_ENABLED": "true"}, "shell", "-c", probe)

    assert "docs-on" not in off.stdout and "Resolver404" in off.stderr
    assert "docs-on" in on.stdout, on.stderr
