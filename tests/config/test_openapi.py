"""The OpenAPI schema and the offline docs."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_documents_endpoints_and_the_error_envelope(api):
    response = api.get("/api/v1/openapi.json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    me = schema["paths"]["/api/v1/app/users/me"]
    assert set(me) == {"get", "patch", "delete"}
    assert {"200", "401", "403", "500"} <= set(me["get"]["responses"])
    assert {"200", "400", "401", "413", "415", "422", "429"} <= set(me["patch"]["responses"])
    assert "204" in me["delete"]["responses"]
    error_ref = me["patch"]["responses"]["422"]["content"]["application/json"]["schema"]["$ref"]
    assert error_ref.endswith("/ErrorEnvelope")
    user_fields = schema["components"]["schemas"]["UserOutput"]["properties"]
    assert set(user_fields) >= {"id", "email", "role", "subscription_plan", "created_at"}
    patch_fields = schema["components"]["schemas"]["PatchedUserUpdateInputRequest"]["properties"]
    assert set(patch_fields) == {"full_name", "avatar_url"}
    assert me["get"]["security"] == [{"bearerAuth": []}]
    projects = schema["paths"]["/api/v1/app/projects"]["get"]
    assert {"200", "401", "422"} <= set(projects["responses"])
    assert {"skip", "limit", "search"} <= {p["name"] for p in projects["parameters"]}
    page = projects["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert page.endswith("/ProjectPage")
    health = schema["paths"]["/api/v1/public/health/ready"]["get"]
    assert {"200", "503"} <= set(health["responses"])
    assert "401" not in health["responses"]


def test_schema_generates_without_warnings():
    out = StringIO()

    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--format", "openapi-json", stdout=out
    )

    assert '"openapi"' in out.getvalue()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_their_assets_from_this_server(client, page):
    response = client.get(page)

    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
    assert assets, html
    for asset in assets:
        assert asset.startswith("/"), f"{asset} is not served locally"
        assert client.get(asset).status_code == 200, asset
