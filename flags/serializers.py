"""Output shape of /flags."""

from __future__ import annotations

from rest_framework import serializers


class FlagsOutput(serializers.Serializer):
    flags = serializers.DictField(
        child=serializers.BooleanField(),
        help_text=(
            "Every flag that has not expired, by key, with whether it is on for me. A key that "
            "is absent is off."
        ),
    )
