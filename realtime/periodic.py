"""Jobs a realtime process runs every few seconds on its event loop, started by its first socket."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)

_running: dict[str, asyncio.Task[None]] = {}


def run_every(seconds: float, job: Callable[[], Awaitable[None]], *, name: str) -> None:
    """`await job()` every `seconds` on the running loop, once per process; a failing round is
    logged and the next one runs."""
    task = _running.get(name)
    if task is not None and not task.done():
        return
    _running[name] = asyncio.get_running_loop().create_task(_forever(seconds, job, name))


async def _forever(seconds: float, job: Callable[[], Awaitable[None]], name: str) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            logger.exception("realtime periodic job %s failed", name)
