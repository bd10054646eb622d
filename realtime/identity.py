"""Who is on a socket: the identity app registers how a token and a user id become a user.

`realtime` knows no user model. `accounts` registers, from its `AppConfig.ready()`, the same
token verification and user cache that authenticate HTTP requests:

    realtime_identity.register(user_from_token=..., user_from_id=...)

Both are synchronous (they may query the database or the cache) and run in a worker thread.
`user_from_token` raises `AuthenticationError` for a token that cannot be trusted and
`AuthorizationError` for a user who may not connect (its `details["reason"]`, `deactivated` or
`impersonation`, labels the refusal metric); `user_from_id` answers the user or None, and is
used for tickets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Identity:
    user_from_token: Callable[[str], Any]
    user_from_id: Callable[[str], Any | None]


_registered: list[Identity] = []


def register(
    *, user_from_token: Callable[[str], Any], user_from_id: Callable[[str], Any | None]
) -> Callable[[], None]:
    """Install the identity callbacks; returns a callable that removes them again."""
    if _registered:
        raise ValueError("The socket identity is already registered")
    _registered.append(Identity(user_from_token=user_from_token, user_from_id=user_from_id))
    return _registered.clear


def identity() -> Identity:
    """The registered identity callbacks."""
    if not _registered:
        raise RuntimeError("No socket identity is registered (accounts registers it)")
    return _registered[0]
