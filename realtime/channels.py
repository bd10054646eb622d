"""The channels a socket may subscribe to, and who may read each.

A channel is `<kind>:<id>`. `user:<id>` is built in: every socket of a user is on its own user
channel, and on no one else's. Any other kind is registered by the app that owns its objects,
from its `AppConfig.ready()`, with an authorizer that says whether a user may read one id:

    realtime_channels.register("project", authorize=project_readable_by)

An authorizer runs in a worker thread (it may query the database) and answers True or False; a
`NotFoundError` it raises counts as False. A channel that is not readable, of an unknown kind or
malformed is answered NOT_FOUND, as HTTP answers another user's object: its existence never
leaks.

Channels' groups are named from the channel by a hash: group names allow only a few characters
and 100 of them, channel ids (a user id is the identity provider's subject) are not so tame.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from typing import Any

from config.errors import NotFoundError

Authorizer = Callable[[Any, str], bool]

USER_KIND = "user"
MAX_CHANNEL_LENGTH = 200
_CHANNEL = re.compile(r"(?P<kind>[a-z][a-z0-9_]{0,31}):(?P<id>[^\s:]{1,160})")

_authorizers: dict[str, Authorizer] = {}


def register(kind: str, *, authorize: Authorizer) -> Callable[[], None]:
    """Let sockets subscribe to `<kind>:<id>` when `authorize(user, id)` is true.

    Returns a callable that removes the registration again (used by tests).
    """
    if kind == USER_KIND or kind in _authorizers:
        raise ValueError(f"Channel kind {kind!r} is already registered")
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", kind):
        raise ValueError(f"Channel kind {kind!r} must be lower-case letters, digits and _")
    _authorizers[kind] = authorize

    def unregister() -> None:
        _authorizers.pop(kind, None)

    return unregister


def parse(channel: Any) -> tuple[str, str] | None:
    """`(kind, id)` of a well-formed channel name, else None."""
    if not isinstance(channel, str) or len(channel) > MAX_CHANNEL_LENGTH:
        return None
    match = _CHANNEL.fullmatch(channel)
    return (match["kind"], match["id"]) if match else None


def user_channel(user_id: Any) -> str:
    """The channel every socket of this user is on."""
    return f"{USER_KIND}:{user_id}"


def may_read(user: Any, channel: str) -> bool:
    """Whether `user` may subscribe to (and send messages on) `channel`. May query the database."""
    parsed = parse(channel)
    if parsed is None:
        return False
    kind, object_id = parsed
    if kind == USER_KIND:
        return object_id == str(user.pk)
    authorize = _authorizers.get(kind)
    if authorize is None:
        return False
    try:
        return bool(authorize(user, object_id))
    except NotFoundError:
        return False


def group_name(channel: str) -> str:
    """The Channels group that carries `channel`'s events."""
    return "rt." + hashlib.blake2b(channel.encode(), digest_size=16).hexdigest()
