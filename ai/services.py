"""AI calls on behalf of a user: the quota check, the call through the router, the usage row.

Every call records exactly one `AIUsage` row and counts `ai_requests` (1) and `ai_tokens` (the
call's total) with `usage.services.usage_record_many`:

- a completion that succeeds: the provider's usage and the cost from `AI_MODEL_PRICES`, recorded
  once the answer has been sent (`CompletedCall.record_usage`, run by the view's response when the
  server closes it), so the caller does not wait for the bookkeeping;
- a call that fails: the provider and model that failed (or were asked for), zero tokens, and the
  error envelope's code;
- a stream: when it ends (`StreamEnd`'s usage), fails after its first chunk, or is closed before
  its end (the client went away: `CLIENT_DISCONNECTED`). Providers report usage only at the end
  of a stream, so a stream cut short records an estimate of what was sent and received
  (`ESTIMATE_CHARS_PER_TOKEN` characters per token) rather than nothing, which the quota would
  otherwise never see.

The models: a user may call only the models of their plan's allowlist
(`BILLING_PLANS[plan]["ai_models"]`) that have a price (`AI_MODEL_PRICES`). A call naming another
model is refused with 422 naming `model` before anything else happens (no provider call, no
usage row); the router leaves fallbacks out whose model the plan does not allow, and routed chat
picks, for its complexity, the route's model if allowed, else the route provider's own model, else
AI_DEFAULT_MODEL.

Provider errors: their own texts are logged by the router, never returned; the errors raised carry
a generic message naming the provider (400 refused, 502 failed, 504 timed out, details.service).

The quota: before each call the user's tokens of the current calendar month (UTC) are read (a
cache counter, summed from `AIUsage` when missing); a user at or over their plan's
`ai_tokens_per_month` gets 429 QUOTA_EXCEEDED. Calls
running at the same time are all let through, and the call that crosses the limit finishes, so a
user can end a month slightly over it. A completion's tokens reach the counter right after its
answer is sent: the next request on the same connection is read only after that, so only a call
racing it from another connection, as concurrent calls already do, can start before they count.

The row is inserted with PostgreSQL's asynchronous commit (`_usage_row_insert`): it does not wait
for the WAL flush (about 4 ms on this machine's disk, more under load). A worker that dies after
the insert loses nothing; only a crash of the database server itself can lose the last fraction
of a second of usage rows (at most three `wal_writer_delay`s, 600 ms by default), whose tokens
the month's counter still holds until it expires.

Longer than most modules: completions, chats and streams share one call record and its usage
bookkeeping, which reads best kept beside the three entry points that use it.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.db import router as db_router
from django.db.models import Field

from accounts.models import User
from ai import breaker, router
from ai.models import MODEL_MAX_LENGTH, PROVIDER_MAX_LENGTH, AIUsage
from ai.providers.base import (
    Completion,
    CompletionRequest,
    Message,
    ProviderError,
    ProviderRequestError,
    ProviderTimeout,
    StreamItem,
    TextDelta,
    Usage,
)
from ai.selectors import (
    ai_tokens_this_month,
    ai_tokens_this_month_along,
    month_tokens_key,
    next_month_start,
)
from billing.selectors import limits_of
from config.api import iso_utc
from config.errors import (
    AppError,
    BadRequestError,
    ExternalServiceError,
    GatewayTimeoutError,
    InternalError,
    QuotaExceededError,
    ValidationError,
)
from config.metrics import record_ai_call
from config.redis_client import full_key, redis_client
from usage.services import usage_record_many

logger = logging.getLogger(__name__)

QUOTA_LIMIT_NAME = "ai_tokens_per_month"
CLIENT_DISCONNECTED = "CLIENT_DISCONNECTED"
# Rough size of a token in characters, for streams that end before the provider reports usage.
ESTIMATE_CHARS_PER_TOKEN = 4
# KEYS[1]: the month's token total; ARGV[1]: tokens. Adds them only when the total exists
# (django-redis's `incr` runs the same check).
_ADD_IF_CACHED = (
    "if redis.call('EXISTS', KEYS[1]) == 1 then "
    "return redis.call('INCRBY', KEYS[1], ARGV[1]) end return false"
)
_PER_MILLION = Decimal(1_000_000)
_COST_PLACES = Decimal("0.00000001")


@dataclass(frozen=True)
class AIStatus:
    """What GET /ai/status reports."""

    available: bool
    providers: list[str]
    default_provider: str | None
    default_model: str | None
    models: list[str]


def ai_status(*, user: User) -> AIStatus:
    """The providers that can be called now, which one (and model) a plain call gets, and the
    models `user`'s plan allows whose provider can be called now."""
    providers = list(router.configured_providers())
    if settings.AI_DEFAULT_PROVIDER in providers:
        default: str | None = settings.AI_DEFAULT_PROVIDER
    else:
        default = providers[0] if providers else None
    return AIStatus(
        available=bool(providers),
        providers=providers,
        default_provider=default,
        default_model=settings.AI_PROVIDER_MODELS.get(default) if default else None,
        models=[
            model
            for model in ai_models_allowed(user=user)
            if router.model_owner(model) in providers
        ],
    )


# --- Models --------------------------------------------------------------------------------


def ai_models_allowed(*, user: User) -> tuple[str, ...]:
    """The models `user` may call: their plan's allowlist, less any model without a price."""
    plan = user.subscription_plan
    models = limits_of(plan=plan if plan in settings.BILLING_PLANS else "free").ai_models
    return tuple(model for model in models if model in settings.AI_MODEL_PRICES)


def ai_model_check(*, model: str, allowed: Collection[str], field: str = "model") -> None:
    """ValidationError (422 naming `field`) unless `model` is among the `allowed` models."""
    if model in allowed:
        return
    if model not in settings.AI_MODEL_PRICES:
        message, code = f"Unknown AI model {model!r}.", "unknown_model"
    else:
        message, code = f"The AI model {model!r} is not included in your plan.", "not_in_plan"
    raise ValidationError([{"field": field, "message": message, "code": code}])


# --- Requests ------------------------------------------------------------------------------


def completion_request_build(
    *,
    messages: Sequence[Message],
    model: str | None = None,
    temperature: float = 0.7,
    max_tokens: int | None = None,
) -> CompletionRequest:
    """A provider request from already validated fields; `max_tokens` defaults per settings."""
    return CompletionRequest(
        messages=tuple(messages),
        model=model or None,
        temperature=temperature,
        max_tokens=max_tokens or settings.AI_DEFAULT_MAX_TOKENS,
    )


def chat_messages_build(*, prompt: str, system: str | None = None) -> list[Message]:
    """The messages of a one-turn chat: the optional system prompt, then the user's prompt."""
    messages = [Message(role="system", content=system)] if system else []
    messages.append(Message(role="user", content=prompt))
    return messages


def ai_route(*, user: User, complexity: str) -> tuple[str, str]:
    """The (provider, model) that serves `complexity` for `user`.

    The route of `settings.AI_ROUTES` when `user`'s plan allows its model; else the route
    provider's own model; else AI_DEFAULT_MODEL on AI_DEFAULT_PROVIDER. 422 naming `complexity`
    when the plan allows none of them (start-up makes sure every plan allows AI_DEFAULT_MODEL).
    """
    provider, model = settings.AI_ROUTES[complexity]
    allowed = ai_models_allowed(user=user)
    candidates = (
        (provider, model),
        (provider, settings.AI_PROVIDER_MODELS.get(provider)),
        (settings.AI_DEFAULT_PROVIDER, settings.AI_DEFAULT_MODEL),
    )
    for candidate_provider, candidate_model in candidates:
        if candidate_model and candidate_model in allowed:
            return candidate_provider, candidate_model
    raise ValidationError(
        [
            {
                "field": "complexity",
                "message": f"No AI model your plan allows serves complexity {complexity!r}.",
                "code": "not_in_plan",
            }
        ]
    )


# --- Quota and cost ------------------------------------------------------------------------


def ai_quota_check(*, user: User, used: int | None = None) -> None:
    """QuotaExceededError (429) when the user's tokens this month reach their plan's allowance.

    No SQL in steady state: the plan is the one synced onto the user (`subscription_plan`, kept
    current by billing's entitlement services and its hourly expiry), and the month's tokens come
    from a cache counter (`ai_tokens_this_month`), or are `used` when the caller read them.
    """
    plan = user.subscription_plan
    allowed = limits_of(plan=plan if plan in settings.BILLING_PLANS else "free").ai_tokens_per_month
    if used is None:
        used = ai_tokens_this_month(user=user)
    if used >= allowed:
        raise QuotaExceededError(
            "Monthly AI token allowance used up",
            details={
                "limit": QUOTA_LIMIT_NAME,
                "used": used,
                "allowed": allowed,
                "resets_at": iso_utc(next_month_start()),
            },
        )


def ai_cost_estimate(*, model: str, usage: Usage) -> Decimal:
    """USD for `usage` of `model` at `settings.AI_MODEL_PRICES` (0 for a model not listed)."""
    prompt_price, completion_price = settings.AI_MODEL_PRICES.get(model, (0.0, 0.0))
    cost = (
        Decimal(str(prompt_price)) * usage.prompt_tokens
        + Decimal(str(completion_price)) * usage.completion_tokens
    ) / _PER_MILLION
    return cost.quantize(_COST_PLACES)


def provider_error_as_app_error(error: ProviderError) -> AppError:
    """The envelope error a provider failure is reported as (400, 502 or 504).

    The message names the provider and nothing else: the provider's own text (which may carry
    account details or part of a key) is for the logs only.
    """
    name = error.provider
    details: dict[str, object] = {"service": name}
    if error.status:
        details["status"] = error.status
    if isinstance(error, ProviderTimeout):
        return GatewayTimeoutError(
            f"The AI provider {name} did not answer in time", details=details
        )
    if isinstance(error, ProviderRequestError) and error.status not in router.CREDENTIALS_REFUSED:
        return BadRequestError(f"The AI provider {name} refused the request", details=details)
    return ExternalServiceError(f"The AI provider {name} failed", details=details)


def _estimate_tokens(text_length: int) -> int:
    return math.ceil(text_length / ESTIMATE_CHARS_PER_TOKEN)


# --- Recording -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _UsageEntry:
    """What one call records: its usage row's fields and the metrics' labels."""

    user: User
    endpoint: str
    provider: str
    model: str
    streamed: bool
    usage: Usage
    error_code: str
    seconds: float

    def write(self) -> None:
        """The usage row, the counters and the metrics; a fault is logged, never raised (the
        answer or error the caller gets does not depend on the bookkeeping)."""
        try:
            _usage_row_insert(
                AIUsage(
                    user=self.user,
                    endpoint=self.endpoint,
                    provider=self.provider[:PROVIDER_MAX_LENGTH],
                    model=self.model[:MODEL_MAX_LENGTH],
                    streamed=self.streamed,
                    prompt_tokens=self.usage.prompt_tokens,
                    completion_tokens=self.usage.completion_tokens,
                    total_tokens=self.usage.total_tokens,
                    latency_ms=int(self.seconds * 1000),
                    success=not self.error_code,
                    error_code=self.error_code,
                    cost_estimate=ai_cost_estimate(model=self.model, usage=self.usage),
                )
            )
        except Exception:
            # The counter below still holds the tokens for the quota until it expires.
            logger.exception("AI usage row not written")
        _count_usage(user_id=self.user.pk, tokens=self.usage.total_tokens)
        record_ai_call(
            provider=self.provider,
            model=self.model,
            outcome=(
                "success"
                if not self.error_code
                else "disconnected"
                if self.error_code == CLIENT_DISCONNECTED
                else "error"
            ),
            prompt_tokens=self.usage.prompt_tokens,
            completion_tokens=self.usage.completion_tokens,
            seconds=self.seconds,
        )


def _usage_row_insert(row: AIUsage) -> None:
    """Insert `row`; on PostgreSQL outside a transaction, with asynchronous commit (see the
    module docstring) in one statement: the insert returns without waiting for the WAL flush."""
    connection = connections[db_router.db_for_write(AIUsage)]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        row.save(force_insert=True)
        return
    fields = _usage_row_fields()
    params = [field.get_db_prep_save(field.pre_save(row, True), connection) for field in fields]
    with connection.cursor() as cursor:
        cursor.execute(_async_insert_sql(connection.alias), params)


@functools.cache
def _usage_row_fields() -> tuple[Field[Any, Any], ...]:
    """The columns a usage row's insert writes: all but the generated id."""
    return tuple(field for field in AIUsage._meta.concrete_fields if not field.primary_key)


@functools.cache
def _async_insert_sql(alias: str) -> str:
    """The usage row's INSERT on PostgreSQL, committed asynchronously.

    In autocommit the statement is its own transaction; `set_config(..., true)` sets
    `synchronous_commit` for that transaction alone, so its commit does not wait for the WAL
    flush and nothing else on the connection is affected. One round trip, where
    `SET LOCAL` needed BEGIN, SET, INSERT and COMMIT.
    """
    quote = connections[alias].ops.quote_name
    columns = ", ".join(quote(field.column) for field in _usage_row_fields())
    placeholders = ", ".join(["%s"] * len(_usage_row_fields()))
    # Only the model's own table and column names are formatted in; the values are params.
    return (
        f"INSERT INTO {quote(AIUsage._meta.db_table)} ({columns}) VALUES ({placeholders}) "  # noqa: S608
        "RETURNING set_config('synchronous_commit', 'off', true)"
    )


@dataclass
class _Call:
    """One AI call being made: records its usage row exactly once, whatever way it ends."""

    user: User
    endpoint: str
    request: CompletionRequest
    provider: str | None
    model: str | None
    streamed: bool
    allowed: tuple[str, ...] = ()
    breakers_read: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    recorded: bool = False

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def target(self, provider: str | None = None, model: str | None = None) -> tuple[str, str]:
        """The provider and model to record when the answer did not say which served."""
        chosen = provider or self.provider or settings.AI_DEFAULT_PROVIDER
        named = model or self.model or self.request.model
        return chosen, named or settings.AI_PROVIDER_MODELS.get(chosen, "")

    def succeeded(self, *, provider: str, model: str, usage: Usage) -> None:
        self._record(provider=provider, model=model, usage=usage, error_code="")

    def succeeded_later(self, *, provider: str, model: str, usage: Usage) -> _UsageEntry | None:
        """The success to record once the answer is sent (None if the call is recorded)."""
        return self._entry(provider=provider, model=model, usage=usage, error_code="")

    def failed(
        self,
        *,
        error_code: str,
        provider: str | None = None,
        model: str | None = None,
        usage: Usage | None = None,
    ) -> None:
        chosen, model = self.target(provider, model)
        self._record(provider=chosen, model=model, usage=usage or Usage(), error_code=error_code)

    def refused(self, error: AppError) -> None:
        """Record an error of the router, with the provider (and model) it names as tried last."""
        provider, model = _failed_target(error)
        self.failed(error_code=error.code, provider=provider, model=model)

    def _record(self, *, provider: str, model: str, usage: Usage, error_code: str) -> None:
        entry = self._entry(provider=provider, model=model, usage=usage, error_code=error_code)
        if entry is not None:
            entry.write()

    def _entry(
        self, *, provider: str, model: str, usage: Usage, error_code: str
    ) -> _UsageEntry | None:
        if self.recorded:
            return None
        self.recorded = True
        return _UsageEntry(
            user=self.user,
            endpoint=self.endpoint,
            provider=provider,
            model=model,
            streamed=self.streamed,
            usage=usage,
            error_code=error_code,
            seconds=time.monotonic() - self.started,
        )


def _count_usage(*, user_id: str, tokens: int) -> None:
    """The metering counters and the month's token total, in one cache round trip with Redis;
    a fault there never fails the call.

    The total grows only while it is cached (as the cache's `incr`): one that is not is summed
    from the rows by the next quota check, this call's included.
    """
    key = month_tokens_key(user_id=user_id)
    add_tokens: Callable[[Any], None] | None = None
    if tokens > 0:
        if redis_client() is None:
            try:
                cache.incr(key, tokens)
            except ValueError:
                pass  # Not cached.
            except Exception:
                logger.warning("AI token total not updated", exc_info=True)
        else:

            def add_tokens(pipe: Any) -> None:
                pipe.eval(_ADD_IF_CACHED, 1, full_key(key), tokens)

    try:
        usage_record_many(
            user_id=user_id, amounts={"ai_requests": 1, "ai_tokens": tokens}, along=add_tokens
        )
    except Exception:
        logger.exception("AI usage counters not updated")


def _failed_target(error: AppError) -> tuple[str | None, str | None]:
    """The provider (and model) an error from the router names as the last one tried, if any."""
    tried = error.details.get("providers")
    if isinstance(tried, list) and tried and isinstance(tried[-1], dict):
        provider, model = tried[-1].get("provider"), tried[-1].get("model")
        if provider in settings.AI_PROVIDERS:
            return str(provider), str(model) if model else None
    for key in ("provider", "service"):
        value = error.details.get(key)
        if isinstance(value, str) and value in settings.AI_PROVIDERS:
            return value, None
    return None, None


# --- Calls ---------------------------------------------------------------------------------


def ai_read_ahead_keys(*, user: User) -> list[str]:
    """The cache keys a call for `user` reads before it calls a provider: the month's token
    total and the breaker of every configured provider (the call reads its first provider's).
    The AI views' rate limit reads them in its own transaction, so a call needs no cache round
    trip of its own before the provider's."""
    keys = [month_tokens_key(user_id=user.pk)]
    for provider in router.configured_providers():
        keys += breaker.read_keys(provider)
    return keys


def _call_start(
    *,
    user: User,
    endpoint: str,
    request: CompletionRequest,
    provider: str | None,
    model: str | None,
    streamed: bool,
    read_ahead: Mapping[str, Any] | None = None,
) -> _Call:
    """A call for `user` to record, once their plan allows the model it names (ValidationError,
    422 on `model`, otherwise) and their quota allows a call (QuotaExceededError otherwise).

    `read_ahead`: what a read of `ai_read_ahead_keys(user=user)` found, if the caller made one.
    """
    allowed = ai_models_allowed(user=user)
    named = model or request.model
    if named:
        ai_model_check(model=named, allowed=allowed)
    # The first provider's breaker is read with the month's tokens: one cache round trip, or
    # none when the view's rate limit read them ahead (`ai_read_ahead_keys`).
    first = router.first_provider(provider=provider, model=named, allowed=allowed)
    used, found = ai_tokens_this_month_along(
        user=user, keys=breaker.read_keys(first) if first else (), read=read_ahead
    )
    ai_quota_check(user=user, used=used)
    return _Call(
        user=user,
        endpoint=endpoint,
        request=request,
        provider=provider,
        model=model,
        streamed=streamed,
        allowed=allowed,
        breakers_read={first: found} if first and found is not None else {},
    )


class CompletedCall:
    """A completion, and the usage of its call, to record once the answer has been sent."""

    def __init__(self, completion: Completion, usage: _UsageEntry | None) -> None:
        self.completion = completion
        self._usage = usage

    def record_usage(self) -> None:
        """Write the call's usage row and count its tokens (once; never raises)."""
        usage, self._usage = self._usage, None
        if usage is not None:
            usage.write()


def ai_complete(
    *,
    user: User,
    endpoint: str,
    request: CompletionRequest,
    provider: str | None = None,
    model: str | None = None,
    read_ahead: Mapping[str, Any] | None = None,
) -> CompletedCall:
    """The whole completion of `request` for `user`, within their quota.

    The caller runs `record_usage()` on the result once the answer has been sent (the views do
    it when the server closes the response): until then the call has no usage row and its
    tokens do not count. A call that fails records its row before raising.

    `provider` and `model` pin the call (routed chat); otherwise the router picks, among the
    models `user`'s plan allows. Raises ValidationError (422) for a model the plan does not
    allow, the router's AppErrors (400, 502, 503, 504) and QuotaExceededError (429).
    `latency_ms` is the call's time as seen here, fallbacks included. `read_ahead`: what the
    caller's read of `ai_read_ahead_keys(user=user)` found (spares the call that read).
    """
    call = _call_start(
        user=user,
        endpoint=endpoint,
        request=request,
        provider=provider,
        model=model,
        streamed=False,
        read_ahead=read_ahead,
    )
    try:
        completion = router.complete(
            request,
            provider=provider,
            model=model,
            allowed=call.allowed,
            breakers_read=call.breakers_read,
        )
    except AppError as error:
        call.refused(error)
        raise
    except ProviderError as error:
        logger.warning("AI provider %s failed: %s", error.provider, error)
        app_error = provider_error_as_app_error(error)
        call.failed(error_code=app_error.code, provider=error.provider)
        raise app_error from error
    except Exception:
        call.failed(error_code=InternalError.code)
        raise
    usage = call.succeeded_later(
        provider=completion.provider, model=completion.model, usage=completion.usage
    )
    return CompletedCall(replace(completion, latency_ms=call.elapsed_ms()), usage)


class AIStream:
    """A started stream: `TextDelta`s, then one `StreamEnd`; records its usage once.

    Iterating raises an AppError (502, 504, …) when the provider fails after the first chunk;
    `close()` stops the upstream call, and a stream closed before its end is recorded as
    `CLIENT_DISCONNECTED` with estimated usage.
    """

    def __init__(self, *, call: _Call, upstream: Iterator[StreamItem]) -> None:
        self._call = call
        self._upstream = upstream
        self._pending: StreamItem | None = None
        self._done = False
        self._received_chars = 0

    def start(self) -> None:
        """Read the first item now, so a failure to start is raised before anything is sent."""
        self._pending = self._pull()

    def __iter__(self) -> AIStream:
        return self

    def __next__(self) -> StreamItem:
        if self._done:
            raise StopIteration
        item = self._pending if self._pending is not None else self._pull()
        self._pending = None
        if not isinstance(item, TextDelta):
            self._done = True
            self._call.succeeded(provider=item.provider, model=item.model, usage=item.usage)
            self._close_upstream()
        return item

    def _pull(self) -> StreamItem:
        try:
            item = next(self._upstream)
        except StopIteration:
            service = self._call.target()[0]
            ended = ExternalServiceError(
                f"The AI provider {service} ended the stream early",
                details={"service": service},
            )
            self._fail(ended)
            raise ended from None
        except AppError as error:
            self._fail(error, *_failed_target(error))
            raise
        except ProviderError as provider_error:
            reported = provider_error_as_app_error(provider_error)
            self._fail(reported, provider_error.provider)
            raise reported from provider_error
        except Exception:
            self._fail(InternalError())
            raise
        if isinstance(item, TextDelta):
            self._received_chars += len(item.text)
        return item

    def _fail(self, error: AppError, provider: str | None = None, model: str | None = None) -> None:
        self._done = True
        self._call.failed(
            error_code=error.code, provider=provider, model=model, usage=self._partial_usage()
        )
        self._close_upstream()

    def _partial_usage(self) -> Usage:
        """Estimated usage of a stream cut short: zero when no text came back at all."""
        if not self._received_chars:
            return Usage()
        prompt_chars = sum(len(message.content) for message in self._call.request.messages)
        return Usage(
            prompt_tokens=_estimate_tokens(prompt_chars),
            completion_tokens=_estimate_tokens(self._received_chars),
        )

    def _close_upstream(self) -> None:
        close = getattr(self._upstream, "close", None)
        if close is not None:
            try:
                close()
            except Exception:
                logger.exception("closing the AI provider's stream failed")

    def close(self) -> None:
        """Stop the upstream call; a stream closed before its end is recorded as disconnected."""
        if not self._done:
            self._done = True
            self._call.failed(error_code=CLIENT_DISCONNECTED, usage=self._partial_usage())
        self._close_upstream()


def ai_stream(
    *,
    user: User,
    endpoint: str,
    request: CompletionRequest,
    provider: str | None = None,
    model: str | None = None,
    read_ahead: Mapping[str, Any] | None = None,
) -> AIStream:
    """Start streaming `request` for `user`, within their quota.

    The first item is read before this returns, so every failure before the stream starts
    (422 model, 429 quota, the router's 400/502/503/504) is raised here, with its usage row
    recorded (except for 422 and 429: nothing was called). `read_ahead` as for `ai_complete`.
    """
    call = _call_start(
        user=user,
        endpoint=endpoint,
        request=request,
        provider=provider,
        model=model,
        streamed=True,
        read_ahead=read_ahead,
    )
    try:
        upstream = iter(
            router.stream(
                request,
                provider=provider,
                model=model,
                allowed=call.allowed,
                breakers_read=call.breakers_read,
            )
        )
    except AppError as error:
        call.refused(error)
        raise
    stream = AIStream(call=call, upstream=upstream)
    stream.start()
    return stream
