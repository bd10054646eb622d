"""The WebSocket load client of `make bench-realtime` (bench/realtime.py starts it).

An asyncio process apart from the server and the driver, so its CPU is its own. It reads one
JSON command a line on stdin and answers one JSON line on stdout:

- `{"cmd": "open", "tokens": [...], "batch": n}`: one socket per token (`Authorization: Bearer`),
  at most `batch` handshakes in flight (the whole list at once for a connect storm); a socket
  counts once the server's `connected` frame arrives. Answers how many connected, the failures
  by reason, and the seconds until the last one connected.
- `{"cmd": "ping", "count": n, "rate": r}`: `n` app-level pings with ids, spread round-robin over
  the open sockets at `r` a second (open loop); answers the round trips' percentiles.
- `{"cmd": "expect", "seq": i}`, then the driver publishes event `seq` i: answers once every open
  socket has it, with the monotonic times of the first and the last arrival.
- `{"cmd": "status"}`: open sockets, and how many closed on their own since they opened.
- `{"cmd": "close"}`: closes every socket (1000) and answers when all are closed.

The sockets are `websockets`' asyncio connections without client pings (the server pings).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import statistics
import sys
import time
from collections import Counter
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

HANDSHAKE_TIMEOUT = 60.0


class Load:
    """The open sockets and what they received."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sockets: list[ClientConnection] = []
        self.readers: list[asyncio.Task[None]] = []
        self.closed_early = 0
        self.closing = False
        self.pongs: dict[int, asyncio.Future[float]] = {}
        self.expected: dict[int, list[Any]] = {}  # seq -> [count, first, last, done future]

    async def open(self, tokens: list[str], batch: int) -> dict[str, Any]:
        failures: Counter[str] = Counter()
        gate = asyncio.Semaphore(batch)
        started = time.monotonic()
        last = started

        async def one(token: str) -> None:
            nonlocal last
            async with gate:
                try:
                    sock = await asyncio.wait_for(self._connect(token), HANDSHAKE_TIMEOUT)
                except InvalidStatus as error:
                    failures[f"http {error.response.status_code}"] += 1
                    return
                except ConnectionClosed as error:
                    failures[f"closed {error.rcvd.code if error.rcvd else 'abnormally'}"] += 1
                    return
                except TimeoutError:
                    failures["timeout"] += 1
                    return
                except OSError as error:
                    failures[f"os {error.errno}"] += 1
                    return
                last = max(last, time.monotonic())
                self.sockets.append(sock)
                self.readers.append(asyncio.create_task(self._read(sock)))

        before = len(self.sockets)
        await asyncio.gather(*(one(token) for token in tokens))
        return {
            "connected": len(self.sockets) - before,
            "failures": dict(failures),
            "seconds": last - started,
        }

    async def _connect(self, token: str) -> ClientConnection:
        sock = await connect(
            self.url,
            additional_headers={"Authorization": f"Bearer {token}"},
            ping_interval=None,
            open_timeout=None,
            close_timeout=30,
            max_queue=64,
        )
        frame = json.loads(await sock.recv())
        if frame.get("type") != "connected":
            await sock.close()
            raise ConnectionClosed(None, None)
        return sock

    async def _read(self, sock: ClientConnection) -> None:
        try:
            async for text in sock:
                arrived = time.monotonic()
                frame = json.loads(text)
                kind = frame.get("type")
                if kind == "pong":
                    waiter = self.pongs.pop(frame.get("id", -1), None)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(arrived)
                elif kind == "event":
                    entry = self.expected.get(frame["data"]["seq"])
                    if entry is not None:
                        entry[0] += 1
                        entry[1] = min(entry[1], arrived)
                        entry[2] = max(entry[2], arrived)
                        if entry[0] == len(self.sockets) and not entry[3].done():
                            entry[3].set_result(None)
        except ConnectionClosed:
            pass
        if not self.closing:
            self.closed_early += 1

    async def ping(self, count: int, rate: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        trips: list[float] = []
        lost = 0

        async def one(number: int) -> None:
            nonlocal lost
            sock = self.sockets[number % len(self.sockets)]
            waiter: asyncio.Future[float] = loop.create_future()
            self.pongs[number] = waiter
            sent = time.monotonic()
            await sock.send(json.dumps({"type": "ping", "id": number}))
            try:
                trips.append(await asyncio.wait_for(waiter, 10) - sent)
            except TimeoutError:
                lost += 1

        pending = []
        started = time.monotonic()
        for number in range(count):
            delay = started + number / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(one(number)))
        await asyncio.gather(*pending)
        trips.sort()
        return {
            "count": len(trips),
            "lost": lost,
            "p50_ms": 1000 * statistics.median(trips),
            "p99_ms": 1000 * trips[int(len(trips) * 0.99) - 1],
            "max_ms": 1000 * trips[-1],
        }

    def expect(self, seq: int) -> asyncio.Future[None]:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.expected[seq] = [0, float("inf"), 0.0, done]
        return done

    async def wait(self, seq: int, done: asyncio.Future[None]) -> dict[str, Any]:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done, 30)
        count, first, last, _ = self.expected.pop(seq)
        return {"seq": seq, "received": count, "first": first, "last": last}

    async def close(self) -> dict[str, Any]:
        self.closing = True
        started = time.monotonic()
        await asyncio.gather(*(sock.close() for sock in self.sockets), return_exceptions=True)
        await asyncio.gather(*self.readers, return_exceptions=True)
        closed = len(self.sockets)
        self.sockets, self.readers = [], []
        self.closing = False
        return {"closed": closed, "seconds": time.monotonic() - started}


async def main(url: str) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    load = Load(url)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 26)  # a storm sends every token in one line
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    waits: list[asyncio.Task[None]] = []

    def answer(payload: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(payload) + "\n")
        sys.stdout.flush()

    answer({"ready": True, "nofile": hard})
    while line := await reader.readline():
        command = json.loads(line)
        match command["cmd"]:
            case "open":
                answer(await load.open(command["tokens"], command["batch"]))
            case "ping":
                answer(await load.ping(command["count"], command["rate"]))
            case "expect":
                seq = command["seq"]
                done = load.expect(seq)

                async def report(seq: int = seq, done: asyncio.Future[None] = done) -> None:
                    answer(await load.wait(seq, done))

                waits.append(asyncio.create_task(report()))
                answer({"expecting": seq})
            case "status":
                answer({"open": len(load.sockets), "closed_early": load.closed_early})
            case "close":
                answer(await load.close())
            case "exit":
                break


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
