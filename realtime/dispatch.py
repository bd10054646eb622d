"""A socket's message loop: Channels' `AsyncConsumer.__call__` without a task per message.

Channels waits on the client and on the channel layer with `await_many_dispatch`, which makes a
new task for the source that fired and an `asyncio.wait` (a future and callbacks on both tasks)
for every message. Fanning one event out to a thousand sockets on one process spent more on that
than on sending the frames. Here the client's messages are read by the connection's own task and
the layer's by one long-lived task; a lock keeps Channels' guarantee that a consumer handles one
message at a time.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from channels.exceptions import StopConsumer
from channels.layers import get_channel_layer

Message = dict[str, Any]


async def serve(
    consumer: Any,
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[Message]],
    send: Callable[[Message], Awaitable[None]],
) -> None:
    """Run `consumer` (an AsyncConsumer) for one connection until it raises StopConsumer."""
    consumer.scope = scope
    consumer.base_send = send
    consumer.channel_layer = get_channel_layer(consumer.channel_layer_alias)
    turn = asyncio.Lock()

    async def handle(message: Message) -> None:
        async with turn:
            await consumer.dispatch(message)

    events: asyncio.Task[None] | None = None
    if consumer.channel_layer is not None:
        consumer.channel_name = await consumer.channel_layer.new_channel()
        consumer.channel_receive = functools.partial(
            consumer.channel_layer.receive, consumer.channel_name
        )

        async def pump_events() -> None:
            while True:
                await handle(await consumer.channel_receive())

        events = asyncio.ensure_future(pump_events())
        events.add_done_callback(functools.partial(_stop_on_failure, asyncio.current_task()))
    try:
        while True:
            await handle(await receive())
    except StopConsumer:
        pass
    except asyncio.CancelledError:
        failure = _failure(events)
        if failure is None:
            raise
        if not isinstance(failure, StopConsumer):
            raise failure from None
    finally:
        if events is not None:
            events.cancel()
            await asyncio.gather(events, return_exceptions=True)


def _failure(task: asyncio.Task[None] | None) -> BaseException | None:
    if task is None or not task.done() or task.cancelled():
        return None
    return task.exception()


def _stop_on_failure(connection: asyncio.Task[Any] | None, events: asyncio.Task[None]) -> None:
    """The layer's messages stopped (a handler raised): end the connection's task too."""
    if connection is not None and _failure(events) is not None:
        connection.cancel()
