"""Cross-cutting HTTP middleware: request id, access log, security headers, body size limit,
query string checks, and the page-only stack that API requests skip."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.core.handlers.exception import convert_exception_to_response
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from config.errors import PayloadTooLargeError, ValidationError, error_response
from config.observability import impersonator_id_var, request_id_var, user_id_var

GetResponse = Callable[[HttpRequest], HttpResponse]

SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

API_CSP = "default-src 'none'; frame-ancestors 'none'"
# The admin and the API docs are HTML pages that load their own scripts, styles and images.
PAGE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'self'"
)

access_logger = logging.getLogger("groundwork.access")


class RequestIdMiddleware:
    """Echo a safe `X-Request-ID` from the client, or generate one; expose it to logging."""

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if SAFE_REQUEST_ID.match(incoming) else str(uuid.uuid4())
        request.request_id = request_id  # type: ignore[attr-defined]
        request_token = request_id_var.set(request_id)
        user_token = user_id_var.set(None)
        impersonator_token = impersonator_id_var.set(None)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(request_token)
            user_id_var.reset(user_token)
            impersonator_id_var.reset(impersonator_token)
        response["X-Request-ID"] = request_id
        return response


class AccessLogMiddleware:
    """One structured line per request: method, path, status, duration, request and user ids.

    The query string, headers and cookies are never logged: they may carry credentials.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = round((time.perf_counter() - started) * 1000, 2)
        status = response.status_code
        level = (
            logging.ERROR if status >= 500 else logging.WARNING if status >= 400 else logging.INFO
        )
        access_logger.log(
            level,
            "%s %s %s %.2fms",
            request.method,
            request.path,
            status,
            duration_ms,
            extra={
                "method": request.method,
                "path": request.path,
                "status": status,
                "duration_ms": duration_ms,
                "user_id": user_id_var.get(),
            },
        )
        return response


class SecurityHeadersMiddleware:
    """The security headers of API.md §5 on every response, early errors included.

    A strict CSP for API responses and a rendering-friendly one for admin and docs pages.
    Django's SecurityMiddleware (nosniff, Referrer-Policy, HSTS) and XFrameOptionsMiddleware sit
    further in, so responses answered before them (a 413 or a query refused before routing, a
    400 for a malformed Host, a CORS preflight) would miss those headers: they are set here too,
    unless the response already chose its own.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            # An empty text/html response under /api/ (a CORS preflight) is no page.
            is_page = response.get("Content-Type", "").startswith(
                "text/html"
            ) and not request.path.startswith("/api/")
            response["Content-Security-Policy"] = PAGE_CSP if is_page else API_CSP
        if settings.SECURE_CONTENT_TYPE_NOSNIFF:
            response.headers.setdefault("X-Content-Type-Options", "nosniff")
        if settings.SECURE_REFERRER_POLICY:
            response.headers.setdefault("Referrer-Policy", settings.SECURE_REFERRER_POLICY)
        if not getattr(response, "xframe_options_exempt", False):
            response.headers.setdefault("X-Frame-Options", settings.X_FRAME_OPTIONS)
        return response


class BodySizeLimitMiddleware:
    """413 envelope for a declared body over DATA_UPLOAD_MAX_MEMORY_SIZE, before anything reads it.

    Multipart uploads are exempt: Django streams their files to disk and limits the rest itself.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(400, "BAD_REQUEST", "Invalid Content-Length header")
        is_multipart = request.content_type == "multipart/form-data"
        if limit is not None and declared > limit and not is_multipart:
            return error_response(
                413,
                PayloadTooLargeError.code,
                f"Request body is larger than {limit} bytes",
                {"limit_bytes": limit},
            )
        return self.get_response(request)


class QueryStringMiddleware:
    """422 envelope for a NUL character in any query parameter (name or value), before routing.

    PostgreSQL cannot store or compare text holding NUL; one check here keeps every view's query
    handling (search, filters, pagination) from passing one on (API.md §8).
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for name, values in request.GET.lists():
            if "\x00" in name or any("\x00" in value for value in values):
                field = name.replace("\x00", "\\u0000")
                message = "Null characters are not allowed."
                return error_response(
                    422,
                    ValidationError.code,
                    f"Invalid value for '{field}'",
                    {
                        "field": field,
                        "errors": [
                            {
                                "field": field,
                                "message": message,
                                "code": "null_characters_not_allowed",
                            }
                        ],
                    },
                )
        return self.get_response(request)


# Requests under these prefixes are the JSON API: token authentication, no cookies, no static
# files. The API's documentation pages (/api/v1/docs...) are pages.
API_PREFIXES = ("/api/v1/app/", "/api/v1/public/")


class PageMiddleware:
    """Runs `PAGE_MIDDLEWARE` (sessions, CSRF, Django's authentication, messages, static files,
    framing) for pages, and skips it for the JSON API, which needs none of it.

    Each of those middleware costs every API request a few microseconds for nothing: DRF
    authenticates with tokens and exempts its views from CSRF, and no API response sets a
    cookie or serves a static file. They run here, in their order, as if they were listed in
    MIDDLEWARE at this place, hooks included (`process_view`, `process_exception`,
    `process_template_response`), so the admin and the sign-in pages see no difference. API
    requests keep what of CommonMiddleware the API relies on: the Host checked against
    ALLOWED_HOSTS, and the Content-Length of the response.
    """

    def __init__(self, get_response: GetResponse) -> None:
        self.get_response = get_response
        handler: Any = get_response
        instances: list[Any] = []
        for path in reversed(settings.PAGE_MIDDLEWARE):
            instance = import_string(path)(handler)
            instances.insert(0, instance)
            handler = convert_exception_to_response(instance)
        self.page_chain = handler
        self.view_hooks = [m.process_view for m in instances if hasattr(m, "process_view")]
        self.exception_hooks = [
            m.process_exception for m in reversed(instances) if hasattr(m, "process_exception")
        ]
        self.template_hooks = [
            m.process_template_response
            for m in reversed(instances)
            if hasattr(m, "process_template_response")
        ]

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path_info.startswith(API_PREFIXES):
            return self.page_chain(request)
        request.is_api = True  # type: ignore[attr-defined]
        # CommonMiddleware's first act, which enforces ALLOWED_HOSTS (DisallowedHost: a 400).
        request.get_host()
        response = self.get_response(request)
        if not response.streaming and not response.has_header("Content-Length"):
            response.headers["Content-Length"] = str(len(response.content))
        return response

    def process_view(self, request: HttpRequest, view: object, args: object, kwargs: object) -> Any:
        if getattr(request, "is_api", False):
            return None
        for hook in self.view_hooks:
            response = hook(request, view, args, kwargs)
            if response is not None:
                return response
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        if getattr(request, "is_api", False):
            return None
        for hook in self.exception_hooks:
            response = hook(request, exception)
            if response is not None:
                return response
        return None

    def process_template_response(self, request: HttpRequest, response: Any) -> Any:
        if getattr(request, "is_api", False):
            return response
        for hook in self.template_hooks:
            response = hook(request, response)
        return response


# What Django's own checks look for in MIDDLEWARE (admin.E408-E410, security.W002/W003), here
# looked for in PAGE_MIDDLEWARE, where PageMiddleware runs them for every page.
REQUIRED_PAGE_MIDDLEWARE = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
)


def check_page_middleware(**kwargs: Any) -> list[CheckMessage]:
    """The system check that replaces Django's middleware checks silenced in the settings: the
    admin's sessions, authentication and messages, CSRF and framing protection are in
    PAGE_MIDDLEWARE, in an order that works, and PageMiddleware is in MIDDLEWARE to run them."""
    page = list(getattr(settings, "PAGE_MIDDLEWARE", []))
    errors: list[CheckMessage] = [
        Error(f"{path} must be in PAGE_MIDDLEWARE.", id="config.E001")
        for path in REQUIRED_PAGE_MIDDLEWARE
        if path not in page
    ]
    sessions, authentication = REQUIRED_PAGE_MIDDLEWARE[0], REQUIRED_PAGE_MIDDLEWARE[2]
    if not errors and page.index(sessions) > page.index(authentication):
        errors.append(Error(f"{sessions} must come before {authentication}.", id="config.E002"))
    if f"{__name__}.PageMiddleware" not in settings.MIDDLEWARE:
        errors.append(Error(f"{__name__}.PageMiddleware must be in MIDDLEWARE.", id="config.E003"))
    return errors
