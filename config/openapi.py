"""OpenAPI schema: the error envelope documented on every operation, Bearer auth."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers


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
}


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
        codes.append("500")
        return sorted(codes)


class JWTAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.JWTAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
