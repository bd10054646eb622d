"""The files operations in the OpenAPI schema."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_schema_documents_the_files_endpoints(api):
    schema = api.get("/api/v1/openapi.json").json()
    paths = schema["paths"]

    listing = paths["/api/v1/app/files"]["get"]
    assert {"skip", "limit", "status"} == {p["name"] for p in listing["parameters"]}
    page = listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert page.endswith("/FilePage")
    assert "201" in paths["/api/v1/app/files/upload-url"]["post"]["responses"]
    assert {"200", "400", "404"} <= set(paths["/api/v1/app/files/confirm"]["post"]["responses"])
    detail = paths["/api/v1/app/files/{file_id}"]
    assert {"200", "404"} <= set(detail["get"]["responses"])
    assert "204" in detail["delete"]["responses"]
    download = paths["/api/v1/app/files/{file_id}/download-url"]["get"]
    assert {"200", "400", "404"} <= set(download["responses"])
    upload = paths["/api/v1/public/storage/upload"]["post"]
    assert {"204", "403", "413"} <= set(upload["responses"])
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert "security" not in upload or {} in upload["security"]
    fields = schema["components"]["schemas"]["FileOutput"]["properties"]
    assert set(fields) == {
        "id",
        "filename",
        "content_type",
        "size",
        "status",
        "created_at",
        "updated_at",
    }
    assert set(schema["components"]["schemas"]["FileUploadOutput"]["properties"]) == {
        "file_id",
        "upload_url",
        "fields",
        "expires_in",
    }
