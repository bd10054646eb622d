"""Single-use tickets for browsers: `POST /api/v1/app/ws/ticket` → `?ticket=<t>` on the socket URL.

A browser cannot set an Authorization header on a WebSocket, and a long-lived token in a URL ends
up in proxy logs and history. A ticket is a random string bound to the user, kept in the shared
cache for `WS_TICKET_SECONDS` (60) and deleted by the first socket that presents it: of two
sockets racing with one ticket, only the one whose delete removed it gets in.
"""

from __future__ import annotations

import logging
import secrets

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def _key(ticket: str) -> str:
    return f"ws:ticket:{ticket}"


def ticket_issue(*, user_id: str) -> str:
    """A new ticket for `user_id`, valid once within WS_TICKET_SECONDS."""
    ticket = secrets.token_urlsafe(24)
    cache.set(_key(ticket), str(user_id), settings.WS_TICKET_SECONDS)
    return ticket


def ticket_redeem(*, ticket: str) -> str | None:
    """The user id the ticket was issued to, once; None when unknown, expired or used."""
    if not ticket or len(ticket) > 64:
        return None
    key = _key(ticket)
    user_id = cache.get(key)
    # The delete decides: it reports True to one caller only.
    if user_id is None or not cache.delete(key):
        return None
    return str(user_id)
