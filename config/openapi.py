"""OpenAPI schema: the error envelope documented on every operation, Bearer auth."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import get_lib_doc_excludes
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers

from config.serializers import URL_PATTERN, QueryInput, StrictInput, StrictInputMixin


def lib_doc_excludes() -> list[Any]:
    """SPECTACULAR_SETTINGS["GET_LIB_DOC_EXCLUDES"]: our input bases' docstrings describe the
    bases, not the serializers derived from them, so the schema does not inherit them."""
    return [*get_lib_doc_excludes(), StrictInput, StrictInputMixin, QueryInput]


class ErrorBody(serializers.Serializer):
    code = serializers.CharField(help_text="Stable machine-readable code, e.g. NOT_FOUND.")
    message = serializers.CharField(help_text="Human-readable explanation.")
    details = serializers.DictField(
        help_text=(
            "Context for the error: `resource`/`id` for NOT_FOUND, `field`/`errors` for "
            "VALIDATION_ERROR, `retry_after` for RATE_LIMIT_EXCEEDED, `request_id` for "
            "INTERNAL_ERROR."
        )
    )


class ErrorEnvelope(serializers.Serializer):
    error = ErrorBody()


ERROR_DESCRIPTIONS = {
    "400": "BAD_REQUEST: malformed JSON or an action impossible in the current state.",
    "401": "AUTHENTICATION_ERROR: missing, malformed, expired or untrusted token.",
    "403": "AUTHORIZATION_ERROR: deactivated user, or not allowed.",
    "404": "NOT_FOUND: missing, deleted, or someone else's.",
    "413": "PAYLOAD_TOO_LARGE: body over the limit.",
    "415": "UNSUPPORTED_MEDIA_TYPE: the body is not JSON.",
    "422": "VALIDATION_ERROR: invalid fields, listed in details.errors.",
    "429": "RATE_LIMIT_EXCEEDED (with Retry-After) or QUOTA_EXCEEDED.",
    "500": "INTERNAL_ERROR: unexpected failure; details.request_id identifies it.",
    "503": (
        "SERVICE_UNAVAILABLE: a dependency (the database, the cache) is down, or the feature "
        "is not configured; try again later."
    ),
}


URI_TOO_LONG = (
    "URI Too Long: the request line (path and query) is longer than the HTTP server accepts "
    "(4094 bytes); answered before the API sees the request, without the envelope."
)


def error_responses(descriptions: dict[int, str]) -> dict[int, OpenApiResponse]:
    """Error responses for `extend_schema(responses=...)`, each the envelope, from
    `{status: description}` (the description names the error code and when it happens)."""
    return {
        status: OpenApiResponse(ErrorEnvelope, description=description)
        for status, description in descriptions.items()
    }


class AutoSchema(SpectacularAutoSchema):
    """Adds the error responses each operation can produce, all with the envelope schema."""

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for code in self._error_codes():
            if code not in responses:
                response = OpenApiResponse(ErrorEnvelope, description=ERROR_DESCRIPTIONS[code])
                responses[code] = self._get_response_for_code(response, code, direction=direction)
        # Answered by the HTTP server (gunicorn's limit_request_line) before the app sees the
        # request, so not in the envelope.
        responses.setdefault("414", {"description": URI_TOO_LONG})
        return responses

    def _error_codes(self) -> list[str]:
        codes = []
        if self.method in ("POST", "PATCH", "PUT"):
            codes += ["400", "413", "415", "422"]
        elif self.method == "GET" and self.get_override_parameters():
            codes.append("422")  # query parameters that fail validation
        is_public = any(
            isinstance(permission, permissions.AllowAny)
            for permission in self.view.get_permissions()
        )
        if not is_public:
            codes += ["401", "403"]
        if "{" in self.path:
            codes.append("404")
        if self.view.get_throttles():
            codes.append("429")
        codes += ["500", "503"]
        return sorted(codes)


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.JWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}


# Request strings may not hold NUL (API.md §8): the schema says so, so that clients and fuzzers
# know it. Formats with a fixed grammar (uuid, uri, date-time...) cannot hold one anyway.
NO_NUL_PATTERN = "^[^\\u0000]*$"
FIXED_GRAMMAR_FORMATS = {"uuid", "uri", "date-time", "date", "time", "email", "binary", "byte"}


def _forbid_nul(schema: Any) -> None:
    """Add NO_NUL_PATTERN to every free-text string schema inside `schema`, in place, and
    replace `format: uri` with URL_PATTERN."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        if node.get("type") == "string" and node.get("format") == "uri" and "pattern" not in node:
            del node["format"]
            node["pattern"] = URL_PATTERN
        if (
            node.get("type") == "string"
            and not {"enum", "pattern", "$ref"} & node.keys()
            and node.get("format") not in FIXED_GRAMMAR_FORMATS
        ):
            node["pattern"] = NO_NUL_PATTERN
        stack.extend(value for value in node.values() if isinstance(value, dict | list))


def postprocess_request_strings(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    """drf-spectacular POSTPROCESSING_HOOK: no NUL in request strings (parameters and bodies)."""
    for name, component in result.get("components", {}).get("schemas", {}).items():
        if name.endswith("Request"):  # COMPONENT_SPLIT_REQUEST: the request side of a shape
            _forbid_nul(component)
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for parameter in operation.get("parameters", []):
                if parameter.get("in") in ("query", "path"):
                    _forbid_nul(parameter.get("schema"))
            for media in operation.get("requestBody", {}).get("content", {}).values():
                _forbid_nul(media.get("schema"))
    return result
