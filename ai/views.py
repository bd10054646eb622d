"""/api/v1/app/ai: provider status, completions, chat and routed chat, JSON or streamed."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Sequence
from typing import Any

from django.http import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import authenticated_user
from ai.models import AIUsage
from ai.providers.base import Message
from ai.serializers import (
    AIStatusOutput,
    ChatInput,
    CompletionInput,
    CompletionOutput,
    RoutedChatInput,
)
from ai.services import (
    ai_complete,
    ai_read_ahead_keys,
    ai_route,
    ai_status,
    ai_stream,
    chat_messages_build,
    completion_request_build,
)
from ai.sse import sse_response
from config.api import validated
from config.openapi import error_responses
from usage.throttling import MeteredRateThrottle


class AIMeteredRateThrottle(MeteredRateThrottle):
    """The default limit, counting the request's `api_requests` usage as on every API view,
    and `RATE_LIMIT_AI`: both windows and the count in one transaction (one round trip where
    two throttles and the usage middleware took three), which also reads what the call will
    read before it calls a provider (the month's tokens, the breakers)."""

    companion_scopes = ("ai",)

    def read_ahead(self, request: Request) -> list[str]:
        user = request.user
        if user is None or not user.is_authenticated:
            return []
        return ai_read_ahead_keys(user=user)


AI_THROTTLES = [AIMeteredRateThrottle]

STREAM_DESCRIPTION = (
    "With `stream: true`: server-sent events. Each text chunk is an event of `data:` lines (a "
    "chunk holding line breaks is several `data:` lines, joined back with a line feed), then "
    '`event: done` whose data is `{"model","provider","usage","finish_reason"}`, then '
    "`data: [DONE]`. A provider failure after the first chunk sends `event: error` whose data "
    "is the error envelope (EXTERNAL_SERVICE_ERROR or GATEWAY_TIMEOUT) in place of "
    "`event: done`, then `data: [DONE]`. Failures before the first chunk are JSON errors."
)
STREAM_EXAMPLE = (
    "data: Echo: \n\ndata: hello\n\n"
    'event: done\ndata: {"model":"echo-1","provider":"echo","usage":{"prompt_tokens":1,'
    '"completion_tokens":2,"total_tokens":3},"finish_reason":"stop"}\n\ndata: [DONE]\n\n'
)

AI_ERRORS = error_responses(
    {
        400: (
            "BAD_REQUEST: malformed JSON, or the provider refused the request (a generic "
            "message naming the provider; details `{service, status}`)."
        ),
        422: (
            "VALIDATION_ERROR: an invalid field; `model` names a model the plan does not allow "
            "or that has no price (nothing is sent to a provider; GET /ai/status lists the "
            "models allowed), or, routed, no model the plan allows serves `complexity`."
        ),
        429: (
            "RATE_LIMIT_EXCEEDED (RATE_LIMIT_AI or RATE_LIMIT_DEFAULT, with Retry-After), or "
            "QUOTA_EXCEEDED: the plan's monthly AI tokens are used up; details "
            '`{"limit": "ai_tokens_per_month", "used", "allowed", "resets_at"}`.'
        ),
        502: (
            "EXTERNAL_SERVICE_ERROR: every provider tried failed, or one refused our "
            "credentials; a generic message naming the provider, details.service (the "
            "provider's own error text is logged, never returned)."
        ),
        503: "SERVICE_UNAVAILABLE: no AI provider is configured.",
        504: "GATEWAY_TIMEOUT: the provider did not answer in time.",
    }
)

COMPLETION_RESPONSES: dict[Any, Any] = {
    (200, "application/json"): CompletionOutput,
    (200, "text/event-stream"): OpenApiResponse(
        OpenApiTypes.STR,
        description=STREAM_DESCRIPTION,
        examples=[OpenApiExample("stream", value=STREAM_EXAMPLE, media_type="text/event-stream")],
    ),
    **AI_ERRORS,
}


class AnsweredResponse(Response):
    """A JSON answer that runs `after` once the server has sent it.

    Servers close a response after writing its body (WSGI's `close()`; gunicorn, Django's ASGI
    handler and its test client alike), and `close()` runs `after` first, on the request's
    thread, with the request's context (its ids in the log lines), and before Django's
    `request_finished` gives the database connection back. So the caller has the answer without
    waiting for `after`, and a worker stopping gracefully still runs it.
    """

    def __init__(self, data: Any, *, after: Callable[[], None]) -> None:
        super().__init__(data)
        self._after = after
        self._context = contextvars.copy_context()

    def close(self) -> None:
        try:
            self._context.run(self._after)
        finally:
            super().close()


def _answer(
    request: Request,
    data: dict[str, Any],
    *,
    endpoint: str,
    messages: Sequence[Message],
    provider: str | None = None,
    model: str | None = None,
) -> HttpResponseBase:
    """The answer to `messages` with the validated input's `temperature` and `max_tokens`: a
    Completion whose usage is recorded once it has been sent, or (input `stream`) the started
    stream as server-sent events.

    `provider` and `model` pin the call (routed chat); otherwise the input's `model`, if any,
    is asked for and the router picks the provider.
    """
    user = authenticated_user(request)
    completion_request = completion_request_build(
        messages=messages,
        model=model or data.get("model"),
        temperature=data["temperature"],
        max_tokens=data["max_tokens"],
    )
    call: dict[str, Any] = {
        "user": user,
        "endpoint": endpoint,
        "request": completion_request,
        "provider": provider,
        "model": model,
        # Read by the rate limit (`AIMeteredRateThrottle`), if it could.
        "read_ahead": getattr(request._request, "cache_read_ahead", None),
    }
    if data.get("stream", False):
        return sse_response(
            ai_stream(**call),
            request_id=getattr(request._request, "request_id", None),
            user_id=user.pk,
        )
    completed = ai_complete(**call)
    return AnsweredResponse(
        CompletionOutput(completed.completion).data, after=completed.record_usage
    )


class AIStatusView(APIView):
    throttle_classes = AI_THROTTLES

    @extend_schema(
        tags=["ai"],
        operation_id="ai_status_retrieve",
        responses=AIStatusOutput,
        summary="Get AI availability",
        description=(
            "The providers that are configured (default first), whether any is, the "
            "provider and model a call that names none gets, and `models`: the models the "
            "caller's plan allows (each priced, its provider configured), the values `model` "
            "accepts."
        ),
    )
    def get(self, request: Request) -> Response:
        return Response(AIStatusOutput(ai_status(user=authenticated_user(request))).data)


class AICompletionsView(APIView):
    throttle_classes = AI_THROTTLES

    @extend_schema(
        tags=["ai"],
        operation_id="ai_completions_create",
        request=CompletionInput,
        responses=COMPLETION_RESPONSES,
        summary="Complete a conversation",
        description=(
            "The next assistant message of `messages`, from the default provider (falling back "
            "to the next configured one when it fails). Counts against the monthly AI token "
            "allowance of the plan. " + STREAM_DESCRIPTION
        ),
    )
    def post(self, request: Request) -> HttpResponseBase:
        data = validated(CompletionInput, request.data)
        messages = [Message(role=m["role"], content=m["content"]) for m in data["messages"]]
        return _answer(request, data, endpoint=AIUsage.Endpoint.COMPLETIONS, messages=messages)


class AIChatView(APIView):
    throttle_classes = AI_THROTTLES

    @extend_schema(
        tags=["ai"],
        operation_id="ai_chat_create",
        request=ChatInput,
        responses=COMPLETION_RESPONSES,
        summary="Answer a prompt",
        description=(
            "One turn: an optional system prompt and the user's prompt, answered like "
            "/ai/completions. " + STREAM_DESCRIPTION
        ),
    )
    def post(self, request: Request) -> HttpResponseBase:
        data = validated(ChatInput, request.data)
        return _answer(
            request,
            data,
            endpoint=AIUsage.Endpoint.CHAT,
            messages=chat_messages_build(prompt=data["prompt"], system=data.get("system")),
        )


class AIChatRoutedView(APIView):
    throttle_classes = AI_THROTTLES

    @extend_schema(
        tags=["ai"],
        operation_id="ai_chat_routed_create",
        request=RoutedChatInput,
        responses={200: CompletionOutput, **AI_ERRORS},
        summary="Answer a prompt with the model for its complexity",
        description=(
            "Like /ai/chat, but the provider and model are those configured for `complexity` "
            "(AI_ROUTE_SIMPLE, _MODERATE, _COMPLEX, _SEARCH) when the caller's plan allows "
            "that model; otherwise that provider's own model, else the default model. Not "
            "streamed."
        ),
    )
    def post(self, request: Request) -> HttpResponseBase:
        data = validated(RoutedChatInput, request.data)
        provider, model = ai_route(user=authenticated_user(request), complexity=data["complexity"])
        return _answer(
            request,
            data,
            endpoint=AIUsage.Endpoint.CHAT_ROUTED,
            messages=chat_messages_build(prompt=data["prompt"], system=data.get("system")),
            provider=provider,
            model=model,
        )
