"""One error envelope for every error: `{"error": {"code", "message", "details"}}`.

Services raise `AppError` subclasses; DRF exceptions and Django-level errors (unknown URL, wrong
method, body too large, CSRF, uncaught exceptions) are translated to the same envelope by
`exception_handler`, the `handler*` views and `ErrorEnvelopeMiddleware`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from config.metrics import record_auth_failure
from config.observability import request_id_var

logger = logging.getLogger(__name__)


class AppError(Exception):
    """Base of every error the API reports on purpose."""

    status_code = 400
    code = "BAD_REQUEST"
    message = "Bad request"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.details = dict(details or {})
        self.headers = dict(headers or {})
        super().__init__(self.message)


class BadRequestError(AppError):
    """The request cannot be carried out in the current state."""


class AuthenticationError(AppError):
    status_code = 401
    code = "AUTHENTICATION_ERROR"
    message = "Authentication required"


class AuthorizationError(AppError):
    status_code = 403
    code = "AUTHORIZATION_ERROR"
    message = "Not allowed"


class NotFoundError(AppError):
    status_code = 404
    code = "NOT_FOUND"
    message = "Resource not found"

    def __init__(
        self, resource: str | None = None, resource_id: object = None, message: str | None = None
    ) -> None:
        if resource is None:
            super().__init__(message or "Resource not found")
        else:
            super().__init__(
                message or f"{resource} not found",
                details={"resource": resource, "id": str(resource_id)},
            )


class MethodNotAllowedError(AppError):
    status_code = 405
    code = "METHOD_NOT_ALLOWED"
    message = "Method not allowed"


class ConflictError(AppError):
    status_code = 409
    code = "CONFLICT"
    message = "Conflict"


class PayloadTooLargeError(AppError):
    status_code = 413
    code = "PAYLOAD_TOO_LARGE"
    message = "Request body too large"


class UnsupportedMediaTypeError(AppError):
    status_code = 415
    code = "UNSUPPORTED_MEDIA_TYPE"
    message = "Unsupported media type"


class ValidationError(AppError):
    status_code = 422
    code = "VALIDATION_ERROR"
    message = "Validation failed"

    def __init__(self, errors: list[dict[str, str]], message: str | None = None) -> None:
        first = errors[0]["field"] if errors else None
        super().__init__(
            message or (f"Invalid value for '{first}'" if first else self.message),
            details={"field": first, "errors": errors},
        )


class RateLimitError(AppError):
    status_code = 429
    code = "RATE_LIMIT_EXCEEDED"
    message = "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(
            f"Rate limit exceeded, retry in {retry_after} seconds",
            details={"retry_after": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class QuotaExceededError(AppError):
    status_code = 429
    code = "QUOTA_EXCEEDED"
    message = "Plan limit reached"


class InternalError(AppError):
    status_code = 500
    code = "INTERNAL_ERROR"
    message = "Internal server error"


class ExternalServiceError(AppError):
    status_code = 502
    code = "EXTERNAL_SERVICE_ERROR"
    message = "An external service failed"


class ServiceUnavailableError(AppError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    message = "Service unavailable"


class DatabaseUnavailableError(ServiceUnavailableError):
    """The database cannot be reached (down, restarting, no free connection): retry shortly."""

    message = "The database is unavailable, try again shortly"

    def __init__(self) -> None:
        super().__init__(details={"service": "database"}, headers={"Retry-After": "5"})


# Errors of the database connection itself (not of a query): a 503, logged without a traceback.
DATABASE_UNAVAILABLE = (DatabaseOperationalError, DatabaseInterfaceError)


class GatewayTimeoutError(AppError):
    status_code = 504
    code = "GATEWAY_TIMEOUT"
    message = "An external service timed out"


# Codes for statuses that reach the envelope without an AppError (Django or DRF decided them).
CODE_BY_STATUS: dict[int, type[AppError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthorizationError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    409: ConflictError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: ValidationError,
    429: RateLimitError,
    500: InternalError,
    502: ExternalServiceError,
    503: ServiceUnavailableError,
    504: GatewayTimeoutError,
}


def envelope(code: str, message: str, details: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The error body every client parses."""
    return {"error": {"code": code, "message": message, "details": dict(details or {})}}


def error_response(
    status: int, code: str, message: str, details: Mapping[str, Any] | None = None
) -> JsonResponse:
    """A plain Django JSON response carrying the envelope (for non-DRF code paths)."""
    if status >= 500:
        details = {**(details or {}), "request_id": request_id_var.get()}
    response = JsonResponse(envelope(code, message, details), status=status)
    if status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


def generic_error_response(status: int) -> JsonResponse:
    """The envelope for a bare status code decided by Django (404 page, 405, CSRF…)."""
    error_class = CODE_BY_STATUS.get(status)
    if error_class is None:
        code = "INTERNAL_ERROR" if status >= 500 else "BAD_REQUEST"
        return error_response(status, code, "Request failed")
    return error_response(status, error_class.code, error_class.message)


# --- DRF -------------------------------------------------------------------------------------


def _flatten_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """DRF's nested error detail as a flat list of {field, message, code}."""
    if isinstance(detail, Mapping):
        errors: list[dict[str, str]] = []
        for key, value in detail.items():
            name = "body" if key in ("non_field_errors", "__all__") and not prefix else str(key)
            errors += _flatten_errors(value, f"{prefix}.{name}" if prefix else name)
        return errors
    if isinstance(detail, list):
        if all(isinstance(item, drf.ErrorDetail) for item in detail):
            return [
                {"field": prefix or "body", "message": str(item), "code": str(item.code)}
                for item in detail
            ]
        errors = []
        for index, item in enumerate(detail):
            errors += _flatten_errors(item, f"{prefix}.{index}" if prefix else str(index))
        return errors
    code = getattr(detail, "code", "invalid")
    return [{"field": prefix or "body", "message": str(detail), "code": str(code)}]


def _app_error_from(exc: Exception) -> AppError | None:
    """Translate DRF and Django exceptions into AppErrors; None for unexpected errors."""
    if isinstance(exc, AppError):
        return exc
    if isinstance(exc, drf.ValidationError):
        return ValidationError(_flatten_errors(exc.detail))
    if isinstance(exc, drf.ParseError):
        return BadRequestError(str(exc.detail))
    if isinstance(exc, drf.NotAuthenticated):
        return AuthenticationError("Authentication credentials were not provided")
    if isinstance(exc, drf.AuthenticationFailed):
        return AuthenticationError(str(exc.detail))
    if isinstance(exc, (drf.PermissionDenied, DjangoPermissionDenied)):
        return AuthorizationError()
    if isinstance(exc, (drf.NotFound, Http404)):
        return NotFoundError()
    if isinstance(exc, drf.MethodNotAllowed):
        return MethodNotAllowedError(str(exc.detail))
    if isinstance(exc, drf.UnsupportedMediaType):
        return UnsupportedMediaTypeError(
            "Request body must be JSON (Content-Type: application/json)"
        )
    if isinstance(exc, DATABASE_UNAVAILABLE):
        return DatabaseUnavailableError()
    if isinstance(exc, drf.Throttled):
        return RateLimitError(max(1, math.ceil(getattr(exc, "wait", None) or 1)))
    if isinstance(exc, drf.APIException):
        error = AppError(str(exc.detail))
        error.status_code = exc.status_code
        error.code = CODE_BY_STATUS.get(exc.status_code, AppError).code
        return error
    return None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every handled error becomes the envelope.

    Unexpected exceptions return None so Django logs them and answers through `handler500`.
    """
    from rest_framework.views import set_rollback  # here: rest_framework.views imports this module

    error = _app_error_from(exc)
    if error is None:
        return None
    if isinstance(exc, drf.NotAuthenticated):
        # A protected endpoint called without credentials: refused like a bad token, and
        # counted with them (`accounts.authentication` counts the others).
        record_auth_failure(reason="missing")
    set_rollback()
    details = error.details
    if error.status_code >= 500:
        details = {**details, "request_id": request_id_var.get()}
        logger.warning(
            "request failed: %s %s%s",
            error.code,
            error.message,
            f" ({type(exc).__name__}: {exc})" if isinstance(exc, DATABASE_UNAVAILABLE) else "",
        )
    response = Response(envelope(error.code, error.message, details), status=error.status_code)
    for name, value in error.headers.items():
        response[name] = value
    if error.status_code == 401 and "WWW-Authenticate" not in error.headers:
        # Bearer tokens, unless the error names its own scheme (basic auth of email webhooks).
        response["WWW-Authenticate"] = "Bearer"
    return response


# --- Django ----------------------------------------------------------------------------------


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400 (Django answers this for malformed requests and oversized form bodies)."""
    if isinstance(exception, RequestDataTooBig):
        return error_response(413, PayloadTooLargeError.code, PayloadTooLargeError.message)
    return error_response(400, "BAD_REQUEST", "Bad request")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler403."""
    return error_response(403, AuthorizationError.code, AuthorizationError.message)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404, also used by the catch-all route under /api/."""
    return generic_error_response(404)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: never a traceback, always the request id."""
    return generic_error_response(500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW."""
    return error_response(403, AuthorizationError.code, "CSRF verification failed")


class ErrorEnvelopeMiddleware:
    """Turns any error response that is not JSON into the envelope.

    Django answers some errors itself before any view of ours runs, and in DEBUG it renders HTML
    pages for 404 and 500; this keeps every error, in every environment, in one JSON shape.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code < 400 or response.streaming:
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        replacement = generic_error_response(response.status_code)
        for header in ("Allow", "Retry-After", "WWW-Authenticate"):
            if header in response:
                replacement[header] = response[header]
        return replacement

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        """A view outside DRF (the admin, say) that lost the database: the 503 envelope, logged
        in one line instead of a 500 with a traceback. Anything else goes on to Django."""
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None
        logger.warning(
            "request failed: database unavailable (%s: %s)", type(exception).__name__, exception
        )
        error = DatabaseUnavailableError()
        response = error_response(error.status_code, error.code, error.message, error.details)
        response["Retry-After"] = error.headers["Retry-After"]
        return response
