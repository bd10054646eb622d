"""The committed openapi.json is the schema the code generates, so every API change shows in
review: a change to a serializer, a view or an error response that is not followed by
`make schema` fails here."""

from __future__ import annotations

import difflib
import json

from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.validation import validate_schema

from tests.processes import BASE_DIR

COMMITTED = BASE_DIR / "openapi.json"
# How much of the difference a failure shows.
DIFF_LINES = 80


def generate() -> str:
    """The schema as `manage.py spectacular --format openapi-json` renders it."""
    generator = spectacular_settings.DEFAULT_GENERATOR_CLASS()
    schema = generator.get_schema(request=None, public=True)
    return OpenApiJsonRenderer().render(schema, renderer_context={}).decode()


def test_the_committed_schema_is_the_one_the_code_generates():
    generated = generate()
    committed = COMMITTED.read_text()

    # `make schema` ends the file with a newline; the renderer does not.
    same = committed.rstrip("\n") == generated
    if not same:
        diff = difflib.unified_diff(
            committed.splitlines(),
            generated.splitlines(),
            "openapi.json (committed)",
            "openapi.json (from the code)",
            lineterm="",
        )
        shown = "\n".join(line for _, line in zip(range(DIFF_LINES), diff, strict=False))
    assert same, (
        "openapi.json differs from the schema the code generates: run `make schema` and commit "
        "openapi.json (and `make client` for clients/typescript). The committed schema is "
        "generated from the default configuration: APP_VERSION, FILE_MAX_BYTES, "
        "FILE_ALLOWED_CONTENT_TYPES, AI_MAX_TOKENS and AI_MODEL_PRICES left unset.\n" + shown
    )


def test_the_committed_schema_is_valid_openapi():
    schema = json.loads(COMMITTED.read_text())

    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["version"] == "0.1.0"  # the default APP_VERSION, not a deployment's
    assert "/api/v1/app/projects" in schema["paths"]
