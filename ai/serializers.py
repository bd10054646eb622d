"""Input and output shapes of /ai.

Size limits (a 422 beyond them): a message, a prompt or a system prompt holds at most
`CONTENT_MAX_LENGTH` characters; a request at most `MESSAGES_MAX` messages and
`TOTAL_CONTENT_MAX_LENGTH` characters of content in all (about 32k tokens, within the context
window of every default model with room left for the answer). `max_tokens` is 1..AI_MAX_TOKENS.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ai.models import MODEL_MAX_LENGTH
from ai.providers.base import Completion
from config.serializers import StrictInput

CONTENT_MAX_LENGTH = 32_000
MESSAGES_MAX = 100
TOTAL_CONTENT_MAX_LENGTH = 128_000
ROLES = ("system", "user", "assistant")

model_name = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]*$",
    "A model name is letters, digits and . _ : / @ + - (e.g. gpt-4o-mini).",
)


@extend_schema_field(
    # The schema lists every priced model; the caller's plan allows some of them.
    {"type": "string", "enum": list(settings.AI_MODEL_PRICES)}
)
class ModelNameField(serializers.CharField):
    """A model name (validated by `model_name`, then against the caller's plan)."""


def _model_field() -> serializers.CharField:
    return ModelNameField(
        max_length=MODEL_MAX_LENGTH,
        required=False,
        allow_null=True,
        allow_blank=True,
        validators=[model_name],
        help_text=(
            "A model of the provider that serves the call, one of the caller's plan "
            "(GET /ai/status `models`; another is a 422); omitted or blank: the provider's "
            "configured model."
        ),
    )


def _max_tokens_field() -> serializers.IntegerField:
    return serializers.IntegerField(
        min_value=1,
        max_value=settings.AI_MAX_TOKENS,
        default=settings.AI_DEFAULT_MAX_TOKENS,
        help_text="Most tokens the answer may have (1..AI_MAX_TOKENS).",
    )


def _temperature_field() -> serializers.FloatField:
    return serializers.FloatField(min_value=0.0, max_value=2.0, default=0.7)


def _content_field(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(
        max_length=CONTENT_MAX_LENGTH, trim_whitespace=False, allow_blank=False, **kwargs
    )


class _GenerationInput(StrictInput):
    """`temperature` and `max_tokens`, whose bound follows the current AI_MAX_TOKENS."""

    temperature = _temperature_field()
    max_tokens = _max_tokens_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["max_tokens"] = _max_tokens_field()


class MessageInput(StrictInput):
    role = serializers.ChoiceField(choices=ROLES)
    content = _content_field()


class CompletionInput(_GenerationInput):
    messages = serializers.ListField(
        child=MessageInput(), min_length=1, max_length=MESSAGES_MAX, help_text="The conversation."
    )
    model = _model_field()
    stream = serializers.BooleanField(
        default=False, help_text="Answer as server-sent events (text/event-stream)."
    )

    def validate_messages(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        if sum(len(message["content"]) for message in messages) > TOTAL_CONTENT_MAX_LENGTH:
            raise serializers.ValidationError(
                f"The messages hold more than {TOTAL_CONTENT_MAX_LENGTH} characters in all.",
                code="max_length",
            )
        return messages


class ChatInput(_GenerationInput):
    prompt = _content_field(help_text="The user's message.")
    system = _content_field(
        required=False, allow_null=True, help_text="Optional system prompt (instructions)."
    )
    model = _model_field()
    stream = serializers.BooleanField(
        default=False, help_text="Answer as server-sent events (text/event-stream)."
    )


class RoutedChatInput(_GenerationInput):
    prompt = _content_field(help_text="The user's message.")
    system = _content_field(
        required=False, allow_null=True, help_text="Optional system prompt (instructions)."
    )
    complexity = serializers.ChoiceField(
        choices=settings.AI_COMPLEXITIES,
        help_text="Picks the provider and model configured for it (AI_ROUTE_<COMPLEXITY>).",
    )


class UsageOutput(serializers.Serializer):
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    total_tokens = serializers.IntegerField()


class CompletionOutput(serializers.Serializer):
    """The Completion shape."""

    content = serializers.CharField()
    model = serializers.CharField()
    provider = serializers.CharField()
    usage = UsageOutput()
    finish_reason = serializers.CharField(allow_null=True)
    latency_ms = serializers.IntegerField()

    def to_representation(self, instance: Completion) -> dict[str, Any]:
        return {
            "content": instance.content,
            "model": instance.model,
            "provider": instance.provider,
            "usage": {
                "prompt_tokens": instance.usage.prompt_tokens,
                "completion_tokens": instance.usage.completion_tokens,
                "total_tokens": instance.usage.total_tokens,
            },
            "finish_reason": instance.finish_reason,
            "latency_ms": instance.latency_ms,
        }


class AIStatusOutput(serializers.Serializer):
    available = serializers.BooleanField(help_text="At least one provider can be called.")
    providers = serializers.ListField(
        child=serializers.CharField(), help_text="The configured providers, default first."
    )
    default_provider = serializers.CharField(allow_null=True)
    default_model = serializers.CharField(allow_null=True)
    models = serializers.ListField(
        child=serializers.CharField(),
        help_text=(
            "The models the caller's plan allows whose provider is configured: what `model` "
            "accepts (any other is a 422)."
        ),
    )
