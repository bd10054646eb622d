"""AI usage: one row per call to the AI endpoints, the source of the monthly token quota."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import User
from config.models import OwnedQuerySet

PROVIDER_MAX_LENGTH = 32
MODEL_MAX_LENGTH = 128
ERROR_CODE_MAX_LENGTH = 64


class AIUsageQuerySet(OwnedQuerySet["AIUsage"]):
    owner_field = "user"


class AIUsage(models.Model):
    """One AI call by one user: who, which provider and model, the tokens, the outcome.

    Every call records exactly one row, failed calls included (zero tokens when nothing was
    generated). `cost_estimate` is in USD, from `settings.AI_MODEL_PRICES` at the time of the call.
    """

    objects: ClassVar[AIUsageQuerySet] = AIUsageQuerySet.as_manager()  # type: ignore[assignment]

    class Endpoint(models.TextChoices):
        COMPLETIONS = "completions", "POST /ai/completions"
        CHAT = "chat", "POST /ai/chat"
        CHAT_ROUTED = "chat_routed", "POST /ai/chat/routed"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ai_usage"
    )
    endpoint = models.CharField(max_length=16, choices=Endpoint.choices)
    provider = models.CharField(max_length=PROVIDER_MAX_LENGTH)
    model = models.CharField(max_length=MODEL_MAX_LENGTH)
    streamed = models.BooleanField(default=False)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    total_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    success = models.BooleanField(default=True)
    error_code = models.CharField(
        max_length=ERROR_CODE_MAX_LENGTH,
        blank=True,
        default="",
        help_text="The error envelope's code of a failed call, or CLIENT_DISCONNECTED.",
    )
    cost_estimate = models.DecimalField(
        max_digits=14, decimal_places=8, default=0, help_text="USD, from AI_MODEL_PRICES."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        db_table = "ai_usage"
        ordering = ["-created_at", "-id"]
        verbose_name = "AI usage"
        verbose_name_plural = "AI usage"
        indexes = [
            # The quota's monthly sum per user and the admin's per-user totals.
            models.Index(fields=["user", "created_at"], name="ai_usage_user_created_idx"),
            # The admin's date hierarchy and newest-first list over every user.
            models.Index(fields=["-created_at"], name="ai_usage_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} ({self.total_tokens} tokens)"


class AIUserUsage(User):
    """Users seen through their AI usage (the admin's per-user totals); no table of its own."""

    class Meta:
        proxy = True
        verbose_name = "AI usage by user"
        verbose_name_plural = "AI usage by user"
