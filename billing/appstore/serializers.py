"""Input shapes of the App Store link endpoint."""

from __future__ import annotations

from rest_framework import serializers

from config.serializers import StrictInput

# An App Store JWS with its three certificates is a few kilobytes.
SIGNED_TRANSACTION_MAX_LENGTH = 32_768


class AppleTransactionInput(StrictInput):
    signed_transaction = serializers.CharField(
        max_length=SIGNED_TRANSACTION_MAX_LENGTH,
        help_text=(
            "The transaction's JWS as StoreKit 2 gives it (`Transaction.jwsRepresentation` / "
            "`VerificationResult.jwsRepresentation`), verified here against Apple's root "
            "certificates."
        ),
    )
