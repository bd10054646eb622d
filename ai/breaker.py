"""A circuit breaker per AI provider, its state in the Django cache so every worker shares it.

States, derived from two cache keys per provider (`failures`, a counter, and `open_until`, a
unix time):

- closed: calls go through. Each failure (timeout or unavailable; never a request error, which
  proves the provider answered) increments `failures` atomically (`cache.incr`); a success
  deletes it. When `failures` reaches settings.AI_BREAKER_FAILURES the breaker opens:
  `open_until` = now + settings.AI_BREAKER_RESET_SECONDS.
- open (now < open_until): `allow` answers False; the router skips the provider without calling
  it.
- half-open (open_until has passed): one caller at a time gets through, the one that wins
  `cache.add` of the `probe` key. Its success closes the breaker (every key deleted); its failure
  opens it again for another AI_BREAKER_RESET_SECONDS.

A caller that `allow` let through must end with `record_success`, `record_failure` or `release`
(the last when the call ended without a verdict, e.g. the client went away), so a half-open
probe never holds the probe key longer than the call. The probe key also expires on its own.
`admit` is `allow` that also says whether the breaker was clean (closed, no failure counted):
the success of a call admitted clean has nothing to reset (`record_success(clean=True)`), which
spares the common case a cache round trip; and a caller that reads other keys anyway (the quota's
token total, `ai.services`) reads the breaker's along with them (`read_keys`, `admit(found=)`).

Times come from `time.time()` (not cache expiry), so tests can freeze time with any backend.
The cache is an optimisation of availability, never a dependency: when it fails, the breaker
logs and answers as if closed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any, Literal

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

State = Literal["closed", "open", "half_open"]
# Keys outlive any sensible reset period; they are deleted on success anyway.
KEY_TTL_SECONDS = 24 * 3600


def _key(provider: str, part: str) -> str:
    return f"ai:breaker:{provider}:{part}"


def _probe_ttl() -> int:
    """How long a half-open probe may hold the probe key: the call's timeout, plus margin."""
    return int(float(settings.AI_TIMEOUT_SECONDS)) + 5


def _cache_failed(action: str, provider: str, error: Exception) -> None:
    logger.warning(
        "AI circuit breaker cache %s failed for %s (treated as closed): %s",
        action,
        provider,
        type(error).__name__,
        extra={"provider": provider},
    )


def _open_until(provider: str) -> float | None:
    value: Any = cache.get(_key(provider, "open_until"))
    return float(value) if value is not None else None


def state(provider: str) -> State:
    """The breaker's state for `provider`, without claiming anything."""
    try:
        open_until = _open_until(provider)
    except Exception as error:  # noqa: BLE001 - cache backends raise their own error types
        _cache_failed("read", provider, error)
        return "closed"
    if open_until is None:
        return "closed"
    return "open" if time.time() < open_until else "half_open"


def allow(provider: str) -> bool:
    """Whether a call to `provider` may go ahead now (claims the probe when half-open)."""
    return admit(provider) is not None


def read_keys(provider: str) -> tuple[str, str]:
    """The cache keys `admit` reads, for a caller that reads them along with its own."""
    return _key(provider, "open_until"), _key(provider, "failures")


def admit(provider: str, *, found: Mapping[str, Any] | None = None) -> bool | None:
    """None when a call to `provider` may not go ahead now; otherwise whether the breaker is
    clean (closed with no failure counted). Claims the probe when half-open.

    One cache read, or none when `found` is what a read of `read_keys(provider)` (among other
    keys, in the caller's own round trip) returned.
    """
    open_key, failures_key = read_keys(provider)
    try:
        if found is None:
            found = cache.get_many([open_key, failures_key])
        if open_key not in found:
            return failures_key not in found
        if time.time() < float(found[open_key]):
            return None
        return False if cache.add(_key(provider, "probe"), 1, timeout=_probe_ttl()) else None
    except Exception as error:  # noqa: BLE001 - cache backends raise their own error types
        _cache_failed("read", provider, error)
        return False


def record_success(provider: str, *, clean: bool = False) -> None:
    """The provider answered: close the breaker and forget the failures (nothing to do when
    the call was admitted `clean`)."""
    if clean:
        return
    try:
        cache.delete_many(
            [_key(provider, "failures"), _key(provider, "open_until"), _key(provider, "probe")]
        )
    except Exception as error:  # noqa: BLE001 - cache backends raise their own error types
        _cache_failed("write", provider, error)


def record_failure(provider: str) -> None:
    """The provider timed out or failed: count it, and open the breaker at the threshold."""
    try:
        tripped = _open_until(provider) is not None
        failures_key = _key(provider, "failures")
        cache.add(failures_key, 0, timeout=KEY_TTL_SECONDS)
        try:
            failures = int(cache.incr(failures_key))
        except ValueError:  # the key expired between add and incr
            cache.set(failures_key, 1, timeout=KEY_TTL_SECONDS)
            failures = 1
        if tripped or failures >= int(settings.AI_BREAKER_FAILURES):
            reopen_at = time.time() + float(settings.AI_BREAKER_RESET_SECONDS)
            cache.set(_key(provider, "open_until"), reopen_at, timeout=KEY_TTL_SECONDS)
            cache.delete(_key(provider, "probe"))
            if not tripped:
                logger.warning(
                    "AI circuit breaker opened for %s after %d failures",
                    provider,
                    failures,
                    extra={"provider": provider},
                )
    except Exception as error:  # noqa: BLE001 - cache backends raise their own error types
        _cache_failed("write", provider, error)


def release(provider: str) -> None:
    """The call ended without a verdict: free the half-open probe for another caller."""
    try:
        cache.delete(_key(provider, "probe"))
    except Exception as error:  # noqa: BLE001 - cache backends raise their own error types
        _cache_failed("write", provider, error)


def reset(provider: str) -> None:
    """Close the breaker of `provider` (operators, tests)."""
    record_success(provider)
