"""The `websocket_messages` usage metric: frames a user's sockets sent and received.

Counting a frame must cost no round trip, so counts gather in this process and are handed to
`usage_record` every FLUSH_SECONDS (one cache round trip per user with frames in that time), and
once more when the process shuts down.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter

from asgiref.sync import sync_to_async

from usage.services import usage_record

logger = logging.getLogger(__name__)

METRIC = "websocket_messages"
FLUSH_SECONDS = 10

_pending: Counter[str] = Counter()
_flusher: asyncio.Task[None] | None = None


def count(user_id: str, frames: int = 1) -> None:
    """Count `frames` for `user_id` (in memory)."""
    _pending[user_id] += frames


async def aflush() -> None:
    """`flush` from the event loop (the counts are taken on the loop, recorded in a thread)."""
    counts = dict(_pending)
    _pending.clear()
    if counts:
        await sync_to_async(_record, thread_sensitive=False)(counts)


def _record(counts: dict[str, int]) -> None:
    for user_id, frames in counts.items():
        usage_record(user_id=user_id, metric=METRIC, amount=frames)


def start_flusher() -> None:
    """Flush every FLUSH_SECONDS on this event loop (once per process)."""
    global _flusher
    if _flusher is not None and not _flusher.done():
        return
    _flusher = asyncio.get_running_loop().create_task(_flush_forever())


async def _flush_forever() -> None:
    while True:
        await asyncio.sleep(FLUSH_SECONDS)
        try:
            await aflush()
        except Exception:
            logger.exception("websocket usage flush failed")
