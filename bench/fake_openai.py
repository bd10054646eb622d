"""A fast local OpenAI-compatible chat completions server for `make bench`.

`python -m bench.fake_openai --port 0 --chunks 20 --interval-ms 100` answers
`POST /v1/chat/completions` (and `/chat/completions`) in OpenAI's wire format, so the openai SDK
parses it as it parses the real service:

- without `stream`: a fixed `chat.completion` object with `usage`, at once;
- with `stream: true`: `text/event-stream` in chunked transfer encoding. A first
  `chat.completion.chunk` carries the role and the first word; the other `--chunks - 1` words
  follow `--interval-ms` apart; then a chunk with `finish_reason` `stop`, then (only when the
  request sets `stream_options.include_usage`, as OpenAI does) a chunk with empty `choices` and
  the `usage`, then `data: [DONE]`.

Any bearer token is accepted. It runs on asyncio in a process of its own, so it does not compete
for the GIL with the process that measures; it prints `ready <port>` once it listens.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from typing import Any

# One word per chunk: what a model's token stream looks like on the wire.
WORDS = [f"word{index} " for index in range(4096)]
MODEL = "gpt-4o-mini"
FINGERPRINT = "fp_bench"
PATHS = (b"/v1/chat/completions", b"/chat/completions")
MAX_HEADER_BYTES = 64 * 1024


def _prompt_tokens(body: dict[str, Any]) -> int:
    """A rough count (4 characters a token) of the request's messages."""
    messages = body.get("messages") or []
    text = "".join(
        str(message.get("content", "")) for message in messages if isinstance(message, dict)
    )
    return max(1, len(text) // 4)


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def completion_body(body: dict[str, Any], words: int) -> bytes:
    """The JSON of a whole `chat.completion` answering `body`."""
    model = str(body.get("model") or MODEL)
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": "".join(WORDS[:words]).rstrip(),
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": _usage(_prompt_tokens(body), words),
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        },
        separators=(",", ":"),
    ).encode()


class Stream:
    """The `data:` events of one streamed completion, built as OpenAI sends them."""

    def __init__(self, body: dict[str, Any], words: int) -> None:
        self.model = str(body.get("model") or MODEL)
        self.created = int(time.time())
        options = body.get("stream_options") or {}
        self.include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        self.prompt = _prompt_tokens(body)
        self.words = words

    def _chunk(self, choices: list[dict[str, Any]], usage: dict[str, Any] | None) -> bytes:
        chunk: dict[str, Any] = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": choices,
        }
        if self.include_usage:
            chunk["usage"] = usage
        return b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"

    def delta(self, index: int) -> bytes:
        delta: dict[str, Any] = {"content": WORDS[index]}
        if index == 0:
            delta = {"role": "assistant", "content": WORDS[0], "refusal": None}
        return self._chunk(
            [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": None}], None
        )

    def end(self) -> bytes:
        events = self._chunk(
            [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}], None
        )
        if self.include_usage:
            events += self._chunk([], _usage(self.prompt, self.words))
        return events + b"data: [DONE]\n\n"


def _http_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


class FakeOpenAI(asyncio.Protocol):
    """HTTP/1.1 with keep-alive: one request at a time per connection, bodies by Content-Length."""

    def __init__(self, chunks: int, interval: float) -> None:
        self.chunks = chunks
        self.interval = interval
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.streaming: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        if self.streaming is not None:
            self.streaming.cancel()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.streaming is None:
            self._serve()

    def _serve(self) -> None:
        """Answers every complete request in the buffer until a stream starts."""
        while self.transport is not None and self.streaming is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEADER_BYTES:
                    self._respond(431, b'{"error":"headers too large"}', close=True)
                return
            head = self.buffer[:end].split(b"\r\n")
            method, _, rest = head[0].partition(b" ")
            target = rest.partition(b" ")[0].split(b"?")[0]
            length, close = 0, False
            for line in head[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection":
                    close = value.strip().lower() == b"close"
            if len(self.buffer) < end + 4 + length:
                return
            raw = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self._handle(method, target, raw, close)

    def _handle(self, method: bytes, target: bytes, raw: bytes, close: bool) -> None:
        if method != b"POST" or target not in PATHS:
            self._respond(404, b'{"error":{"message":"not found","type":"invalid_request_error"}}')
            return
        try:
            body = json.loads(raw or b"{}")
            assert isinstance(body, dict)
        except (ValueError, AssertionError):
            self._respond(400, b'{"error":{"message":"bad JSON","type":"invalid_request_error"}}')
            return
        if body.get("stream"):
            self.streaming = asyncio.ensure_future(self._stream(Stream(body, self.chunks), close))
        else:
            self._respond(200, completion_body(body, self.chunks), close=close)

    def _respond(self, status: int, body: bytes, close: bool = False) -> None:
        assert self.transport is not None
        reason = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}.get(status, b"Error")
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\n"
            b"x-request-id: req_bench\r\n%s\r\n%s"
            % (status, reason, len(body), b"connection: close\r\n" if close else b"", body)
        )
        if close:
            self.transport.close()

    async def _stream(self, stream: Stream, close: bool) -> None:
        transport = self.transport
        assert transport is not None
        transport.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            b"transfer-encoding: chunked\r\ncache-control: no-cache\r\n"
            b"x-request-id: req_bench\r\n%s\r\n" % (b"connection: close\r\n" if close else b"")
        )
        transport.write(_http_chunk(stream.delta(0)))
        started = time.monotonic()
        for index in range(1, stream.words):
            # Scheduled against the start, so the intervals do not drift.
            await asyncio.sleep(max(0.0, started + index * self.interval - time.monotonic()))
            if transport.is_closing():
                return
            transport.write(_http_chunk(stream.delta(index)))
        transport.write(_http_chunk(stream.end()) + b"0\r\n\r\n")
        self.streaming = None
        if close:
            transport.close()
        elif self.buffer:
            self._serve()


async def serve(host: str, port: int, chunks: int, interval: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: FakeOpenAI(chunks, interval), host, port, backlog=1024, reuse_address=True
    )
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--chunks", type=int, default=20, help="words per completion")
    parser.add_argument("--interval-ms", type=float, default=100.0, help="between stream chunks")
    args = parser.parse_args()
    if not 1 <= args.chunks <= len(WORDS):
        parser.error(f"--chunks must be 1..{len(WORDS)}")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, args.chunks, args.interval_ms / 1000))


if __name__ == "__main__":
    main()
