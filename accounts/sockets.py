"""Closing a user's WebSockets (realtime) when the account may no longer use them."""

from __future__ import annotations

from django.db import transaction

from realtime import close_user_sockets

CLOSE_FORBIDDEN = 4403


def sockets_close_on_commit(*user_ids: str) -> None:
    """Once the transaction commits, close every socket of these users, everywhere, with 4403."""

    def close() -> None:
        for user_id in user_ids:
            close_user_sockets(user_id=str(user_id), code=CLOSE_FORBIDDEN, reason="deactivated")

    transaction.on_commit(close)
