"""Every operation of the OpenAPI schema, fed generated input: never a 500, always the envelope.

schemathesis generates requests (valid and invalid) from /api/v1/openapi.json and sends them to
the WSGI application in-process, signed as a real user.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from accounts.tokens import mint_development_token
from config.wsgi import application
from tests.factories import UserFactory


@pytest.fixture
def api_schema(db: None) -> Iterator[schemathesis.BaseSchema]:
    # The WSGI handler closes "old" connections around each request, which would end the
    # test's transaction: keep the test connection for the duration.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@hypothesis_settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_generated_requests_never_cause_a_server_error(case, settings):
    settings.RATE_LIMITS = {"default": "1000000/minute", "ai": "1000000/minute"}
    user = UserFactory()  # a fresh user per example: one of them deletes its own account
    token = mint_development_token(email=user.email, subject=user.pk)

    response = case.call(headers={"Authorization": f"Bearer {token}"})

    assert response.status_code != 500, (case.method, case.formatted_path, response.text[:500])
    if response.status_code >= 400:
        body = response.json()
        assert set(body["error"]) == {"code", "message", "details"}, response.text[:500]
