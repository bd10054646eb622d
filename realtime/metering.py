"""The `websocket_messages` usage metric: frames a user's sockets sent and received.

Counting a frame must cost no round trip, so counts gather in this process and are handed to
`usage_record` every FLUSH_SECONDS (one cache round trip per user with frames in that time), and
once more when the process shuts down.
"""

from __future__ import annotations

from collections import Counter

from asgiref.sync import sync_to_async

from usage.services import usage_record

METRIC = "websocket_messages"
FLUSH_SECONDS = 10

_pending: Counter[str] = Counter()


def count(user_id: str, frames: int = 1) -> None:
    """Count `frames` for `user_id` (in memory)."""
    _pending[user_id] += frames


async def aflush() -> None:
    """Hand the gathered counts to the usage meter (taken on the loop, recorded in a thread);
    every FLUSH_SECONDS and at shutdown."""
    counts = dict(_pending)
    _pending.clear()
    if counts:
        await sync_to_async(_record, thread_sensitive=False)(counts)


def _record(counts: dict[str, int]) -> None:
    for user_id, frames in counts.items():
        usage_record(user_id=user_id, metric=METRIC, amount=frames)
