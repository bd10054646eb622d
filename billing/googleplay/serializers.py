"""Input shapes of the Google Play link endpoint."""

from __future__ import annotations

from rest_framework import serializers

from billing.googleplay.services import PRODUCT_ID_MAX_LENGTH, PURCHASE_TOKEN_MAX_LENGTH
from config.serializers import StrictInput


class GooglePurchaseLinkInput(StrictInput):
    purchase_token = serializers.RegexField(
        r"^[\x21-\x7e]+$",
        max_length=PURCHASE_TOKEN_MAX_LENGTH,
        help_text=(
            "The purchase token Google Play Billing returned on the device "
            "(Purchase.getPurchaseToken())."
        ),
    )
    subscription_id = serializers.RegexField(
        r"^[\x21-\x7e]+$",
        max_length=PRODUCT_ID_MAX_LENGTH,
        help_text="The subscription's product id in Play Console (e.g. pro_monthly).",
    )
