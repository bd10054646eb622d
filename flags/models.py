"""Feature flags: who gets a feature, decided by staff in the admin.

The model is our own rather than django-waffle's: waffle's percentage rollout is decided per
request (and remembered in a cookie), so it is not stable for a user across devices, and it has
no notion of plans or of an expiry.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from billing.models import Entitlement
from config.models import TimestampedModel

KEY_MAX_LENGTH = 100


def validate_plans(value: Any) -> None:
    """`value` is a list of plan names billing knows (`free`, `pro`, `enterprise`)."""
    known = Entitlement.Plan.values
    if not isinstance(value, list) or not all(isinstance(plan, str) for plan in value):
        raise ValidationError("Plans must be a list of plan names.", code="not_a_plan_list")
    unknown = sorted(set(value) - set(known))
    if unknown:
        raise ValidationError(
            "Unknown plan(s): %(unknown)s. Plans are %(known)s.",
            code="unknown_plan",
            params={"unknown": ", ".join(unknown), "known": ", ".join(known)},
        )


class Flag(TimestampedModel):
    """A feature flag, on or off for each user.

    `everyone` decides alone when it is on or off; with `rules` the flag is on for a user who is
    in `users`, whose plan is in `plans`, or who falls within `percent` of users (the same user
    always gets the same answer for a key). After `expires_at` it is off for everyone and no
    longer listed to clients. Evaluation lives in `flags.selectors`.
    """

    class Everyone(models.TextChoices):
        ON = "on", "On for everyone"
        OFF = "off", "Off for everyone"
        RULES = "rules", "Decided by the rules (users, plans, percentage)"

    key = models.SlugField(
        max_length=KEY_MAX_LENGTH,
        unique=True,
        help_text=(
            "The name clients and code check, e.g. new-editor (letters, digits, - and _). "
            "Renaming it turns the feature off for code that checks the old name."
        ),
    )
    description = models.TextField(
        blank=True, help_text="What the flag gates and when it can be removed."
    )
    everyone = models.CharField(
        max_length=8,
        choices=Everyone.choices,
        default=Everyone.RULES,
        help_text=(
            "On or off for every user (the rules below are then ignored), or decided by the "
            "rules: users, plans and percentage, any one of which turns it on."
        ),
    )
    percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal(0),
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(100))],
        help_text=(
            "Share of users (0-100) who get the flag. Stable: a user keeps the same answer, and "
            "raising the share only adds users."
        ),
    )
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text="Users who always get the flag (when it is decided by the rules).",
    )
    plans = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_plans],
        help_text="Users on these plans get the flag (when it is decided by the rules).",
    )
    expires_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="From this moment the flag is off for everyone and no longer sent to clients.",
    )

    class Meta:
        db_table = "flags"
        ordering = ["key"]
        constraints = [
            models.CheckConstraint(
                condition=Q(percent__gte=0) & Q(percent__lte=100), name="flags_percent_0_100"
            ),
            models.CheckConstraint(
                condition=Q(everyone__in=["on", "off", "rules"]), name="flags_everyone_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.key
