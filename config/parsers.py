"""The JSON body parser of every DRF route: orjson, a nesting limit, a 400 for anything unparsable.

Whatever a client sends (broken JSON, a body nested thousands of levels deep, bytes that are not
valid in the declared charset, an unknown charset, a connection that drops mid-body), the answer is
the 400 `BAD_REQUEST` envelope (API.md §8), never a 500.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from django.utils.http import parse_header_parameters
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

# No request body of the API nests deeper than a handful of levels (an AI message is 3).
MAX_DEPTH = 32


def json_depth_exceeds(data: Any, limit: int) -> bool:
    """Whether `data` (parsed JSON) nests objects and arrays more than `limit` levels deep.

    Iterative, so that a deep document cannot exhaust the interpreter's stack here either.
    """
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Iterable[Any] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def parse_json(raw: bytes, *, charset: str | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """Parse a JSON body; ParseError (400) for anything that is not a JSON document we accept."""
    if charset and codecs.lookup(charset).name != "utf-8":
        raw = raw.decode(charset).encode()
    data = orjson.loads(raw)
    if json_depth_exceeds(data, max_depth):
        raise ParseError(f"JSON parse error - nested more than {max_depth} levels deep")
    return data


class JSONParser(BaseParser):
    """application/json bodies, parsed with orjson (UTF-8 and JSON are checked by it)."""

    media_type = "application/json"

    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        """The parsed body; ParseError (400) when it cannot be read or parsed."""
        # The charset as sent: Django silently ignores one it does not know.
        charset = parse_header_parameters(media_type or "")[1].get("charset")
        try:
            raw = stream.read() if stream is not None else b""
            return parse_json(raw, charset=charset)
        except ParseError:
            raise
        except (ValueError, LookupError, OSError) as exc:
            # orjson.JSONDecodeError and UnicodeError are ValueErrors; LookupError: an unknown
            # charset; OSError: the client went away mid-body.
            raise ParseError(f"JSON parse error - {exc}") from exc
