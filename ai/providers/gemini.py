"""`gemini`: Google Gemini through its OpenAI-compatible endpoint, with the openai SDK.

Gemini serves Chat Completions (JSON and SSE, with `stream_options.include_usage`) at
settings.GEMINI_BASE_URL with GEMINI_API_KEY as the bearer key, so this provider is the OpenAI
provider under another name: the same request shape, streaming and error mapping.
"""

from __future__ import annotations

from typing import ClassVar

from ai.providers.openai import OpenAIProvider


class GeminiProvider(OpenAIProvider):
    """Chat Completions on a client whose `base_url` is Gemini's OpenAI-compatible endpoint."""

    name: ClassVar[str] = "gemini"
