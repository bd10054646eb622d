"""Who may open a socket: the origin check, and the user from a Bearer token or a ticket.

`authenticate` is synchronous (token verification, the user cache, the slot claim) and runs in a
worker thread once per handshake.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from config.errors import AuthenticationError, AuthorizationError
from realtime import connections
from realtime.identity import identity
from realtime.tickets import ticket_redeem

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_MANY = 4429


class HandshakeRefused(Exception):
    """The socket is closed right after it opens, with `code`; `reason` labels the metric."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message


def origin_allowed(origin: bytes | None, *, host: bytes | None) -> bool:
    """No Origin (a native app) is allowed; a browser's must be on CORS_ALLOWED_ORIGINS or be
    the site's own host."""
    if origin is None:
        return True
    value = origin.decode("latin-1").strip().lower()
    if value in {allowed.lower().rstrip("/") for allowed in settings.CORS_ALLOWED_ORIGINS}:
        return True
    if not host:
        return False
    return urlsplit(value).netloc == host.decode("latin-1").strip().lower()


def authenticate(*, authorization: str, ticket: str, connection_id: str) -> Any:
    """The socket's user, holding one of its connection slots; `HandshakeRefused` otherwise."""
    user = _user(authorization=authorization, ticket=ticket)
    if not connections.slot_claim(user_id=str(user.pk), connection_id=connection_id):
        raise HandshakeRefused(
            CLOSE_TOO_MANY,
            "too_many_connections",
            f"At most {settings.WS_MAX_CONNECTIONS_PER_USER} sockets per user",
        )
    return user


def _user(*, authorization: str, ticket: str) -> Any:
    callbacks = identity()
    if authorization:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise HandshakeRefused(
                CLOSE_UNAUTHENTICATED, "invalid", "Authorization header must be 'Bearer <token>'"
            )
        try:
            return callbacks.user_from_token(token)
        except AuthorizationError as error:
            reason = str(error.details.get("reason") or "forbidden")
            raise HandshakeRefused(CLOSE_FORBIDDEN, reason, str(error)) from error
        except AuthenticationError as error:
            raise HandshakeRefused(CLOSE_UNAUTHENTICATED, "invalid", str(error)) from error
    if not ticket:
        raise HandshakeRefused(
            CLOSE_UNAUTHENTICATED, "missing", "A Bearer token or a ticket is required"
        )
    user_id = ticket_redeem(ticket=ticket)
    if user_id is None:
        raise HandshakeRefused(
            CLOSE_UNAUTHENTICATED, "ticket", "The ticket is unknown, expired or already used"
        )
    user = callbacks.user_from_id(user_id)
    if user is None:
        raise HandshakeRefused(CLOSE_UNAUTHENTICATED, "ticket", "The ticket's user is gone")
    if not user.is_active:
        raise HandshakeRefused(CLOSE_FORBIDDEN, "deactivated", "This account is deactivated")
    return user
