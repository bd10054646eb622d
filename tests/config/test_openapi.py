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


def _schema(api):
    return api.get("/api/v1/openapi.json").json()


def _parameter(operation, name):
    [parameter] = [p for p in operation["parameters"] if p["name"] == name]
    return parameter["schema"]


def test_page_parameters_declare_their_bounds(api):
    schema = _schema(api)

    for path in ("/api/v1/app/projects", "/api/v1/app/files"):
        operation = schema["paths"][path]["get"]
        skip, limit = _parameter(operation, "skip"), _parameter(operation, "limit")
        assert (skip["type"], skip["minimum"]) == ("integer", 0), path
        assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, 100), path
    invoices = schema["paths"]["/api/v1/app/billing/invoices"]["get"]
    assert (_parameter(invoices, "limit")["minimum"], _parameter(invoices, "limit")["maximum"]) == (
        1,
        100,
    )
    assert "422" in invoices["responses"]


def test_upload_content_type_is_an_enum_of_the_allowed_types(api, settings):
    schema = _schema(api)

    body = schema["components"]["schemas"]["FileUploadInputRequest"]["properties"]
    content_type = body["content_type"]
    if "$ref" in content_type or "allOf" in content_type:
        ref = (content_type.get("allOf") or [content_type])[0]["$ref"].rsplit("/", 1)[1]
        content_type = schema["components"]["schemas"][ref]
    assert set(content_type["enum"]) == set(settings.FILE_ALLOWED_CONTENT_TYPES)
    assert body["size"]["maximum"] == settings.FILE_MAX_BYTES


def test_request_strings_declare_that_they_hold_no_nul(api):
    schema = _schema(api)

    name = schema["components"]["schemas"]["ProjectInputRequest"]["properties"]["name"]
    search = _parameter(schema["paths"]["/api/v1/app/projects"]["get"], "search")
    for string in (name, search):
        assert string["pattern"] == "^[^\\u0000]*$"
        assert re.match(string["pattern"], "fine") and not re.match(string["pattern"], "a\x00b")


def test_url_fields_declare_what_the_server_accepts(api):
    schema = _schema(api)

    avatar = schema["components"]["schemas"]["PatchedUserUpdateInputRequest"]["properties"][
        "avatar_url"
    ]
    pattern = (avatar.get("oneOf") or [avatar])[0]["pattern"]
    assert re.match(pattern, "https://cdn.example.com/a.png?x=1")
    assert not re.match(pattern, "https://" + "a" * 64 + ".com")  # a DNS label is ≤ 63
    assert not re.match(pattern, "javascript:alert(1)")


def test_idempotency_key_declares_its_shape(api):
    schema = _schema(api)

    key = _parameter(schema["paths"]["/api/v1/app/billing/cancel"]["post"], "Idempotency-Key")
    assert (key["minLength"], key["maxLength"]) == (1, 255)
    assert re.match(key["pattern"], "a-key") and not re.match(key["pattern"], "é")


def test_every_operation_declares_503(api):
    schema = _schema(api)

    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert "503" in operation["responses"], (method, path)


def test_ai_model_lists_the_priced_models(api, settings):
    schema = _schema(api)

    model = schema["components"]["schemas"]["ChatInputRequest"]["properties"]["model"]
    enum = next(branch["enum"] for branch in model["oneOf"] if "enum" in branch)
    assert set(enum) == set(settings.AI_MODEL_PRICES)


def test_request_shapes_do_not_inherit_the_strict_base_docstring(api):
    schema = _schema(api)

    for name, component in schema["components"]["schemas"].items():
        assert "request-body serializer" not in component.get("description", ""), name
