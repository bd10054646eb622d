"""Every operation of the OpenAPI schema, fed generated input: never a 500, always the envelope,
and every response as the schema declares it.

schemathesis generates requests (valid and invalid) from /api/v1/openapi.json and sends them to
the WSGI application in-process, signed as a real user: the schema's examples, then generated
cases. The same checks, those that re-send requests, and the coverage phase (each boundary and
each kind of invalid value of every parameter, most of the generation's cost) run against a live
server in tests/contract/test_live_fuzz.py, on the same database.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from schemathesis import checks

from accounts.tokens import mint_development_token
from tests.contract.in_process import wsgi_schema
from tests.factories import UserFactory

LIVE_CONFIG = Path(__file__).with_name("schemathesis.toml")
UNLIMITED = {"default": "1000000/minute", "ai": "1000000/minute"}


@pytest.fixture
def api_schema(db: None) -> Iterator[schemathesis.BaseSchema]:
    # The live run's settings (tests/contract/schemathesis.toml): declared 503s are answers.
    config = schemathesis.config.SchemathesisConfig.from_path(LIVE_CONFIG)
    config.projects.default.phases.coverage.enabled = False
    with wsgi_schema(config=config) as loaded:
        yield loaded


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_generated_requests_never_cause_a_server_error(case, settings):
    # Set once: every example runs with the same `settings` fixture, and each assignment stacks
    # another override on it.
    if settings.RATE_LIMITS != UNLIMITED:
        settings.RATE_LIMITS = UNLIMITED
    # Every model the schema lists (the priced ones) is then one the user's plan allows.
    if settings.BILLING_PLANS["free"]["ai_models"] != list(settings.AI_MODEL_PRICES):
        settings.BILLING_PLANS = {
            plan: {**limits, "ai_models": list(settings.AI_MODEL_PRICES)}
            for plan, limits in settings.BILLING_PLANS.items()
        }
    user = UserFactory()  # a fresh user per example: one of them deletes its own account
    token = mint_development_token(email=user.email, subject=user.pk)

    headers = {"Authorization": f"Bearer {token}"}
    if isinstance(case.body, dict) and case.body.get("stream") is True:
        case.body["stream"] = False  # server-sent events have tests of their own
    response = case.call(headers=headers)

    assert response.status_code != 500, (case.method, case.formatted_path, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert set(body["error"]) == {"code", "message", "details"}, response.text[:500]
    # Status codes, content types, headers and bodies as the schema declares them; valid data
    # accepted. (Checks that re-send the request with other credentials or methods, and the
    # resource-lifecycle ones, run against the live server: tests/contract/test_live_fuzz.py.)
    case.validate_response(
        response,
        headers=headers,
        excluded_checks=[
            checks.ignored_auth,
            checks.use_after_free,
            checks.ensure_resource_availability,
            checks.unsupported_method,
        ],
    )
