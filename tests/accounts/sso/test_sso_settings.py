"""Start-up checks of the staff SSO configuration (a fresh manage.py process per case)."""

from __future__ import annotations

from functools import partial

import pytest

from tests import live
from tests.oidc_provider import CLIENT_ID, CLIENT_SECRET

run_manage = partial(live.run_manage, environment="local")

SSO = {
    "OIDC_RP_CLIENT_ID": CLIENT_ID,
    "OIDC_RP_CLIENT_SECRET": CLIENT_SECRET,
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "https://id.example.com/oauth2/v1/authorize",
    "OIDC_OP_TOKEN_ENDPOINT": "https://id.example.com/oauth2/v1/token",
    "OIDC_OP_USER_ENDPOINT": "https://id.example.com/oauth2/v1/userinfo",
    "OIDC_OP_JWKS_ENDPOINT": "https://id.example.com/oauth2/v1/keys",
    "STAFF_SSO_ALLOWED_DOMAINS": "example.com, @Example.org",
}
PROBE = (
    "from django.conf import settings as s; "
    "b = s.AUTHENTICATION_BACKENDS; "
    "print(s.STAFF_SSO_ENABLED, s.ADMIN_PASSWORD_LOGIN, b[0], 'accounts.sso.StaffSSOBackend' in b, "
    "s.STAFF_SSO_ALLOWED_DOMAINS, s.STAFF_SSO_GROUP_MAP, s.OIDC_RP_SIGN_ALGO, "
    "s.STAFF_SSO_PROVIDER_NAME)"
)


@pytest.mark.standalone
def test_a_complete_configuration_turns_sso_on():
    env = {**SSO, "STAFF_SSO_GROUP_MAP": "support=Support, ops=Support,ops=Operations"}

    result = run_manage(env, "shell", "-c", PROBE)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        "True True axes.backends.AxesStandaloneBackend True "
        "['example.com', 'example.org'] {'support': ['Support'], 'ops': ['Support', 'Operations']} "
        "RS256 SSO"
    )


@pytest.mark.standalone
def test_without_configuration_sso_is_off_and_passwords_work():
    result = run_manage({"ADMIN_PASSWORD_LOGIN": "false"}, "shell", "-c", PROBE)

    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("False False axes.backends.AxesStandaloneBackend False [] {} RS256")


@pytest.mark.parametrize(
    "unset",
    [("OIDC_OP_TOKEN_ENDPOINT",), ("OIDC_RP_CLIENT_SECRET", "OIDC_OP_JWKS_ENDPOINT")],
)
@pytest.mark.standalone
def test_a_partial_configuration_stops_start_up_naming_what_is_missing(unset):
    env = {name: value for name, value in SSO.items() if name not in unset}

    result = run_manage(env, "check")

    assert result.returncode != 0
    assert f"Staff SSO is partly configured: also set {', '.join(unset)}." in result.stderr


@pytest.mark.standalone
def test_sso_without_allowed_domains_stops_start_up():
    env = {name: value for name, value in SSO.items() if name != "STAFF_SSO_ALLOWED_DOMAINS"}

    result = run_manage(env, "check")

    assert result.returncode != 0
    assert "- STAFF_SSO_ALLOWED_DOMAINS is required with staff SSO" in result.stderr


@pytest.mark.standalone
def test_malformed_sso_values_are_listed():
    env = {**SSO, "STAFF_SSO_GROUP_MAP": "support=Support,no-group", "OIDC_RP_SIGN_ALGO": "none"}

    result = run_manage(env, "check")

    assert result.returncode != 0
    assert "- STAFF_SSO_GROUP_MAP must look like claim_value=django_group" in result.stderr
    assert "- OIDC_RP_SIGN_ALGO must be one of" in result.stderr


@pytest.mark.standalone
def test_production_turns_the_password_form_off_and_wants_https_endpoints():
    from tests.config.test_settings import GOOD_PRODUCTION

    plain_http = {**SSO, "OIDC_OP_TOKEN_ENDPOINT": "http://id.example.com/token"}
    refused = run_manage({**GOOD_PRODUCTION, **plain_http}, "check")
    started = run_manage({**GOOD_PRODUCTION, **SSO}, "shell", "-c", PROBE)

    assert refused.returncode != 0
    assert "- OIDC_OP_TOKEN_ENDPOINT must be an https:// URL in production" in refused.stderr
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip().splitlines()[-1].startswith("True False ")
