"""Content negotiation: the API always answers JSON."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class JSONOnlyContentNegotiation(DefaultContentNegotiation):
    """Always answer with the view's first renderer (JSON), whatever `Accept` says.

    Clients that send `Accept: text/html` or `*/*` still get the contract's JSON rather than a 406.
    """

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type
