"""JSON in, JSON out."""

from __future__ import annotations

import io
from typing import Any

from drf_orjson_renderer.parsers import ORJSONParser
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class JSONParser(ORJSONParser):
    """orjson parsing that honours DATA_UPLOAD_MAX_MEMORY_SIZE.

    Reading through `HttpRequest.body` makes Django enforce the limit (RequestDataTooBig → 413)
    even when the client sent no Content-Length.
    """

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        request = (parser_context or {}).get("request")
        if request is not None:
            stream = io.BytesIO(request._request.body)
        return super().parse(stream, media_type, parser_context)


class JSONOnlyContentNegotiation(DefaultContentNegotiation):
    """Always answer with the view's first renderer (JSON), whatever `Accept` says.

    Clients that send `Accept: text/html` or `*/*` still get the contract's JSON rather than a 406.
    """

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = renderers[0]
        return renderer, renderer.media_type
