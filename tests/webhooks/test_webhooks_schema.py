"""A provider's intake endpoint as documented in the OpenAPI schema."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.urls("tests.webhooks.urls"), pytest.mark.django_db]


def test_intake_endpoints_document_the_ack_and_their_errors(api):
    schema = api.get("/api/v1/openapi.json").json()

    operation = schema["paths"]["/api/v1/public/webhooks/test"]["post"]
    assert operation["tags"] == ["webhooks"]
    assert {"200", "400", "401", "503"} <= set(operation["responses"])
    ack = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ack.endswith("/WebhookAck")
    errors = {
        operation["responses"][code]["content"]["application/json"]["schema"]["$ref"]
        for code in ("400", "401", "503")
    }
    assert {ref.rsplit("/", 1)[-1] for ref in errors} == {"ErrorEnvelope"}
    assert "application/json" in operation["requestBody"]["content"]
    assert "security" not in operation or {} in operation["security"]
    status = schema["components"]["schemas"]["WebhookAck"]["properties"]["status"]
    enum_ref = status.get("$ref") or status["allOf"][0]["$ref"]
    enum = schema["components"]["schemas"][enum_ref.rsplit("/", 1)[-1]]["enum"]
    assert enum == ["queued", "processed", "duplicate", "ignored"]


def test_the_schema_with_an_intake_endpoint_has_no_warnings():
    out = StringIO()

    call_command(
        "spectacular",
        "--validate",
        "--fail-on-warn",
        "--urlconf",
        "tests.webhooks.urls",
        "--format",
        "openapi-json",
        stdout=out,
    )

    assert "/api/v1/public/webhooks/test" in out.getvalue()
