"""Server-sent events: how an AI stream goes over HTTP (API.md §6, Streaming).

The body of a stream, event by event (each event ends with a blank line):

    data: <text chunk>                     one event per chunk; a chunk holding line breaks is
    data: <its next line>                  sent as several `data:` lines, which the client
                                           joins back with "\\n" (the SSE standard)
    event: done
    data: {"model", "provider", "usage", "finish_reason"}

    data: [DONE]

When the provider fails after the first chunk, `event: done` is replaced by

    event: error
    data: {"error": {"code", "message", "details"}}    the envelope a JSON error would carry

and the stream still ends with `data: [DONE]`, so a client waits for one terminator either way.
Failures before the first chunk are ordinary JSON error responses: the view starts the stream
before it answers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

from django.db import connections
from django.http import StreamingHttpResponse

from ai.providers.base import StreamEnd, StreamItem, TextDelta
from ai.services import AIStream
from config.errors import AppError, InternalError, envelope
from config.observability import request_id_var, user_id_var

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/event-stream"
DONE_FRAME = b"data: [DONE]\n\n"
# The line ends the SSE standard recognises inside a field.
_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def sse_frame(data: str, *, event: str | None = None) -> bytes:
    """One event: an optional `event:` line, one `data:` line per line of `data`, a blank line."""
    lines = [f"event: {event}\n"] if event else []
    lines += [f"data: {line}\n" for line in _LINE_BREAK.split(data)]
    return ("".join(lines) + "\n").encode()


def done_frame(end: StreamEnd) -> bytes:
    """The `event: done` frame that closes a stream that succeeded."""
    return sse_frame(
        _json(
            {
                "model": end.model,
                "provider": end.provider,
                "usage": {
                    "prompt_tokens": end.usage.prompt_tokens,
                    "completion_tokens": end.usage.completion_tokens,
                    "total_tokens": end.usage.total_tokens,
                },
                "finish_reason": end.finish_reason,
            }
        ),
        event="done",
    )


def error_frame(error: AppError, *, request_id: str | None) -> bytes:
    """The `event: error` frame: the error envelope, with the request id for 5xx errors."""
    details = dict(error.details)
    if error.status_code >= 500:
        details["request_id"] = request_id
    return sse_frame(_json(envelope(error.code, error.message, details)), event="error")


def _release_database() -> None:
    """Give this thread's database connections back while the stream runs.

    A stream can stay open for minutes and needs no database until its usage row at the end,
    which takes a connection again; holding one throughout would cap concurrent streams at the
    connection pool's size (bench/README.md, "Serving AI streams").
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


class SSEBody:
    """The bytes of a stream's response, produced as the provider's chunks arrive.

    `close()` (called by the server when the response ends or the client goes away) closes the
    AI stream, which stops the upstream call and records the usage.
    """

    def __init__(self, stream: AIStream, *, request_id: str | None, user_id: str | None) -> None:
        self._stream = stream
        self._request_id = request_id
        self._user_id = user_id

    def __iter__(self) -> Iterator[bytes]:
        return self._frames()

    def _next(self) -> StreamItem | None:
        # The request's middleware has returned by now: put its ids back for the log lines.
        request_token = request_id_var.set(self._request_id)
        user_token = user_id_var.set(self._user_id)
        try:
            return next(self._stream, None)
        finally:
            request_id_var.reset(request_token)
            user_id_var.reset(user_token)

    def _frames(self) -> Iterator[bytes]:
        _release_database()
        try:
            while (item := self._next()) is not None:
                if isinstance(item, TextDelta):
                    if item.text:
                        yield sse_frame(item.text)
                else:
                    yield done_frame(item)
        except AppError as error:
            logger.warning("AI stream failed: %s %s", error.code, error.message)
            yield error_frame(error, request_id=self._request_id)
        except Exception:
            logger.exception("AI stream failed")
            yield error_frame(InternalError(), request_id=self._request_id)
        yield DONE_FRAME

    def close(self) -> None:
        """Stop the AI stream (a no-op once it has ended)."""
        self._stream.close()


def sse_response(
    stream: AIStream, *, request_id: str | None, user_id: str | None
) -> StreamingHttpResponse:
    """A streaming response of `stream`, sent chunk by chunk with no buffering on the way."""
    response = StreamingHttpResponse(
        SSEBody(stream, request_id=request_id, user_id=user_id), content_type=CONTENT_TYPE
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
