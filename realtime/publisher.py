"""`publish(...)`: an event to every socket on a channel, in every process, after the commit.

Services call it from `transaction.on_commit`. It never raises and never waits on Redis: the
frame is encoded once here and handed to an event loop that talks to the channel layer:

- in an ASGI process (the realtime server, `manage.py runserver`), the server's own loop, so the
  in-memory layer of development reaches the sockets of the same process;
- anywhere else (gunicorn's WSGI workers, Celery), a loop on a daemon thread of this process,
  started on first use (after any fork), holding one Redis connection.

A layer that cannot take the event (Redis down, or slower than PUBLISH_TIMEOUT_SECONDS) costs a
log line and `groundwork_realtime_publish_failures_total`; events waiting for the loop are
capped at MAX_PENDING, past which new ones are dropped and counted the same way. Real-time
events are a courtesy on top of the API: a client that missed one re-reads over HTTP when it
reconnects.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from channels.layers import get_channel_layer

from realtime import channels, metrics

logger = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 2.0
MAX_PENDING = 10_000

_server_loop: asyncio.AbstractEventLoop | None = None
_thread_loop: asyncio.AbstractEventLoop | None = None
_thread_pid: int | None = None
_thread_lock = threading.Lock()
_pending_lock = threading.Lock()
_pending = 0


def publish(*, channel: str, event: str, data: Mapping[str, Any]) -> None:
    """Send `{"type":"event","event","channel","data","timestamp"}` to every socket on `channel`."""
    text = orjson.dumps(
        {
            "type": "event",
            "event": event,
            "channel": channel,
            "data": data,
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        },
        default=str,
    ).decode()
    _hand_over(channels.group_name(channel), {"type": "realtime.event", "text": text})


def close_user_sockets(*, user_id: str, code: int = 4403, reason: str = "") -> None:
    """Close every socket of the user, on every process (a deactivated or erased account)."""
    message = {"type": "realtime.close", "code": code, "reason": reason}
    _hand_over(channels.group_name(channels.user_channel(user_id)), message)


def bind_server_loop() -> None:
    """Deliver from now on through the running loop (called by the ASGI application)."""
    global _server_loop
    _server_loop = asyncio.get_running_loop()


def _count_pending(change: int) -> int:
    global _pending
    with _pending_lock:
        _pending = max(0, _pending + change)
        return _pending


def _hand_over(group: str, message: dict[str, Any]) -> None:
    if _pending >= MAX_PENDING:
        _failed("too many events waiting for the channel layer")
        return
    started = time.perf_counter()
    try:
        loop = _target_loop()
        _count_pending(+1)
        coroutine = _group_send(group, message, started)
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(coroutine)
        else:
            asyncio.run_coroutine_threadsafe(coroutine, loop)
    except Exception as error:  # noqa: BLE001 - publishing never fails the caller
        _count_pending(-1)
        _failed(repr(error))


async def _group_send(group: str, message: dict[str, Any], started: float) -> None:
    try:
        layer = get_channel_layer()
        if layer is None:
            raise RuntimeError("CHANNEL_LAYERS has no default layer")
        await asyncio.wait_for(layer.group_send(group, message), PUBLISH_TIMEOUT_SECONDS)
        metrics.PUBLISH_SECONDS.observe(time.perf_counter() - started)
    except Exception as error:  # noqa: BLE001 - logged and counted, never raised
        _failed(repr(error))
    finally:
        _count_pending(-1)


def _failed(why: str) -> None:
    metrics.PUBLISH_FAILURES.inc()
    logger.warning("realtime event not published: %s", why)


def _target_loop() -> asyncio.AbstractEventLoop:
    if _server_loop is not None and not _server_loop.is_closed():
        return _server_loop
    return _background_loop()


def _background_loop() -> asyncio.AbstractEventLoop:
    """This process's publishing loop on a daemon thread (a forked child starts its own)."""
    global _thread_loop, _thread_pid
    with _thread_lock:
        if _thread_loop is None or _thread_pid != os.getpid():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="realtime-publisher", daemon=True
            )
            thread.start()
            _thread_loop, _thread_pid = loop, os.getpid()
        return _thread_loop


def drain(timeout: float = 1.0) -> bool:
    """Wait up to `timeout` seconds for waiting events to reach the layer; True when none wait."""
    deadline = time.monotonic() + timeout
    while _pending and time.monotonic() < deadline:
        time.sleep(0.005)
    return not _pending


# A management command or a script that publishes and exits gives its last events a moment.
atexit.register(drain)
