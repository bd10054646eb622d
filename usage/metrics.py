"""What other apps add to the usage summary: the figures only they know.

`usage` knows no domain app, so the apps above it register, from their `AppConfig.ready()`:
- a gauge: a figure the user has now rather than counts over a period (files register
  `storage_bytes`, the bytes their uploaded files take up);
- the limits: what the user's plan allows (billing registers its plan limits).

    usage_metrics.register_gauge("storage_bytes", read=lambda user: file_storage_used(owner=user))
    usage_metrics.register_limits(read=lambda user: plan_limits(user=user))

Each returns a callable that removes the registration again (used by tests).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Reader = Callable[[Any], Any]

_gauges: dict[str, Reader] = {}
_limits: list[Reader] = []


def register_gauge(name: str, *, read: Callable[[Any], int]) -> Callable[[], None]:
    """Report `read(user)` as the metric `name` in every usage summary."""
    if name in _gauges:
        raise ValueError(f"Usage gauge {name!r} is already registered")
    _gauges[name] = read

    def unregister() -> None:
        _gauges.pop(name, None)

    return unregister


def register_limits(*, read: Reader) -> Callable[[], None]:
    """Report `read(user)` (an object with the plan's limits) as the summary's `limits`."""
    if _limits:
        raise ValueError("Usage limits are already registered")
    _limits.append(read)
    return _limits.clear


def gauges_of(user: Any) -> dict[str, int]:
    """Every registered gauge's figure for `user`."""
    return {name: read(user) for name, read in _gauges.items()}


def limits_of(user: Any) -> Any:
    """The registered limits of `user`'s plan (None when no app registered any)."""
    return _limits[0](user) if _limits else None
