"""App Store signed data: verify a JWS and its x5c chain, and decode it.

Everything the App Store sends (server notifications, StoreKit 2 transactions, renewal info) is a
JWS signed ES256 by a leaf certificate whose chain, carried in the `x5c` header, must lead to one
of Apple's root certificates (APPLE_ROOT_CERTIFICATES). Apple's `SignedDataVerifier` checks the
chain (the leaf and intermediate OIDs included), the signature, the bundle id, the app id (in
Production) and the environment. Online revocation checks are off: they would call Apple's OCSP
responder on every request; the chain is then validated at the data's own `signedDate`.

The accepted environments are a list (APPLE_ENVIRONMENT, e.g. Production and Sandbox: App Review
and TestFlight buy in the sandbox), while a verifier checks one. So the environment the data
claims is read first without trusting it, refused unless accepted, and the data is then verified
by the verifier of that environment, which checks the claim again. Verifiers are built once per
process per configuration (the settings values are the cache key); root files are read once.

A notification's nested `signedTransactionInfo` and `signedRenewalInfo` are verified too, and
inlined, decoded, as `data.transactionInfo` and `data.renewalInfo` of the returned payload.

Failures raise `BadRequestError` (400) whose `details.reason` is the verifier's status in
lowercase (`verification_failure`, `invalid_app_identifier`, `invalid_environment`, …) or
`malformed`; a missing configuration raises `ServiceUnavailableError` (503).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import settings

from config.errors import AppError, BadRequestError, ServiceUnavailableError

if TYPE_CHECKING:
    from appstoreserverlibrary.signed_data_verifier import (
        SignedDataVerifier,
        VerificationException,
    )

logger = logging.getLogger(__name__)

SERVICE = "apple"
MALFORMED = "malformed"
VERIFIERS_CACHED = 32
# Apple's library (and cattrs with it) is imported when App Store data is first verified: a web
# worker that never sees any does not carry it. Its values used before it is loaded (reasons are
# VerificationStatus names in lowercase, environments are Environment values):
VERIFICATION_FAILURE = "verification_failure"
INVALID_ENVIRONMENT = "invalid_environment"
SANDBOX = "Sandbox"
PRODUCTION = "Production"


@dataclass(frozen=True)
class AppleNotification:
    """A verified App Store Server Notification V2.

    `payload` is the notification's decoded claims, with `data.signedTransactionInfo` and
    `data.signedRenewalInfo` replaced by their verified, decoded `data.transactionInfo` and
    `data.renewalInfo`.
    """

    notification_uuid: str
    notification_type: str
    subtype: str | None
    signed_date: datetime | None
    payload: dict[str, Any]


def apple_configured() -> bool:
    """Whether App Store data can be verified: a bundle id and root certificates are set."""
    return bool(settings.APPLE_BUNDLE_ID and settings.APPLE_ROOT_CERTIFICATES)


def _require_configured() -> None:
    if not apple_configured():
        raise ServiceUnavailableError(
            "App Store purchases are not configured", details={"service": SERVICE}
        )


def apple_time(value: Any) -> datetime | None:
    """An App Store timestamp (UNIX milliseconds) as an aware UTC datetime; None if absent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _rejected(
    reason: str, message: str = "The App Store data could not be verified"
) -> BadRequestError:
    return BadRequestError(message, details={"reason": reason})


def _decode_errors() -> tuple[type[Exception], ...]:
    """What a verified payload may still fail to be once decoded into the library's models."""
    import cattrs

    return ValueError, TypeError, KeyError, AttributeError, cattrs.BaseValidationError


def _failed(error: VerificationException) -> AppError:
    from appstoreserverlibrary.signed_data_verifier import VerificationStatus

    if error.status == VerificationStatus.RETRYABLE_VERIFICATION_FAILURE:
        return ServiceUnavailableError(
            "The App Store certificate status could not be checked", details={"service": SERVICE}
        )
    return _rejected(error.status.name.lower())


@functools.lru_cache(maxsize=VERIFIERS_CACHED)
def _root_certificates(paths: tuple[str, ...]) -> tuple[bytes, ...]:
    """The DER bytes of every certificate in these files (DER, or PEM with one or more)."""
    roots: list[bytes] = []
    for path in paths:
        content = Path(path).read_bytes()
        if b"-----BEGIN" in content:
            roots += [
                cert.public_bytes(Encoding.DER) for cert in x509.load_pem_x509_certificates(content)
            ]
        else:
            roots.append(x509.load_der_x509_certificate(content).public_bytes(Encoding.DER))
    return tuple(roots)


@functools.lru_cache(maxsize=VERIFIERS_CACHED)
def _verifier(
    environment: str, bundle_id: str, app_id: int | None, roots: tuple[str, ...]
) -> SignedDataVerifier:
    from appstoreserverlibrary.models.Environment import Environment
    from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier

    return SignedDataVerifier(
        root_certificates=list(_root_certificates(roots)),
        enable_online_checks=False,
        environment=Environment(environment),
        bundle_id=bundle_id,
        app_apple_id=app_id,
    )


def verifier_for(environment: str) -> SignedDataVerifier:
    """The process's verifier for one accepted environment, built from the current settings.

    503 when the App Store is not configured or its root certificates cannot be read.
    """
    _require_configured()
    try:
        return _verifier(
            environment,
            settings.APPLE_BUNDLE_ID,
            settings.APPLE_APP_ID,
            tuple(settings.APPLE_ROOT_CERTIFICATES),
        )
    except (OSError, ValueError) as error:
        # Settings check the files exist; unreadable content or a Production environment
        # without APPLE_APP_ID (refused at start-up) end here.
        logger.error("App Store verification is misconfigured: %s", error)
        raise ServiceUnavailableError(
            "App Store verification is misconfigured", details={"service": SERVICE}
        ) from None


def _unverified_claims(signed: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(signed, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise _rejected(VERIFICATION_FAILURE) from None
    return dict(claims)


def _accepted(environment: Any) -> str:
    """The claimed environment, if this server accepts it; 400 otherwise."""
    if not isinstance(environment, str) or environment not in settings.APPLE_ENVIRONMENT:
        raise _rejected(
            INVALID_ENVIRONMENT,
            "The App Store data is from an environment this server does not accept",
        )
    return environment


def _claimed_notification_environment(claims: Mapping[str, Any]) -> Any:
    """Where a notification says it comes from, found as the verifier finds it."""
    for key in ("data", "summary", "appData"):
        part = claims.get(key)
        if isinstance(part, dict):
            return part.get("environment")
    token = claims.get("externalPurchaseToken")
    if isinstance(token, dict):
        purchase_id = token.get("externalPurchaseId")
        if isinstance(purchase_id, str) and purchase_id.startswith("SANDBOX"):
            return SANDBOX
        return PRODUCTION
    return None


def _verified(verify: Callable[[str], object], signed: Any, *, what: str) -> dict[str, Any]:
    """The claims of `signed` once `verify` (a SignedDataVerifier method) accepts it; 400 when
    it is not a JWS string (naming `what`) or does not verify."""
    if not isinstance(signed, str) or not signed:
        raise _rejected(MALFORMED, f"The {what} must be a JWS string")
    from appstoreserverlibrary.signed_data_verifier import VerificationException

    try:
        verify(signed)
    except VerificationException as error:
        raise _failed(error) from None
    except _decode_errors():
        raise _rejected(MALFORMED) from None
    # The same bytes were just verified: these are the signed claims, unknown fields included.
    return _unverified_claims(signed)


def _verified_transaction(verifier: SignedDataVerifier, signed: Any) -> dict[str, Any]:
    return _verified(
        verifier.verify_and_decode_signed_transaction, signed, what="signed transaction"
    )


def _verified_renewal_info(verifier: SignedDataVerifier, signed: Any) -> dict[str, Any]:
    return _verified(verifier.verify_and_decode_renewal_info, signed, what="signed renewal info")


def verify_transaction(signed_transaction: str) -> dict[str, Any]:
    """Verify a StoreKit 2 signed transaction (JWS) and return its decoded claims.

    Checked: the chain to a configured root, the signature, the bundle id, and an environment
    among APPLE_ENVIRONMENT. 400 when any check fails, 503 when not configured.
    """
    _require_configured()
    environment = _accepted(_unverified_claims(signed_transaction).get("environment"))
    return _verified_transaction(verifier_for(environment), signed_transaction)


def verify_notification(signed_payload: str) -> AppleNotification:
    """Verify an App Store Server Notification V2 `signedPayload` and its nested signed data.

    Checked: the chain to a configured root, the signature, the bundle id, the app id (in
    Production), an environment among APPLE_ENVIRONMENT, and the same for the nested
    transaction and renewal info, which must be about the same original transaction. 400 when
    any check fails or a required field (notificationUUID, notificationType) is missing, 503
    when not configured.
    """
    _require_configured()
    environment = _accepted(_claimed_notification_environment(_unverified_claims(signed_payload)))
    verifier = verifier_for(environment)
    payload = _verified(
        verifier.verify_and_decode_notification, signed_payload, what="signed payload"
    )

    notification_uuid = payload.get("notificationUUID")
    notification_type = payload.get("notificationType")
    subtype = payload.get("subtype")
    if not isinstance(notification_uuid, str) or not notification_uuid:
        raise _rejected(MALFORMED, "The notification has no notificationUUID")
    if not isinstance(notification_type, str) or not notification_type:
        raise _rejected(MALFORMED, "The notification has no notificationType")
    if subtype is not None and not isinstance(subtype, str):
        raise _rejected(MALFORMED, "The notification's subtype is not a string")

    data = payload.get("data")
    if isinstance(data, dict):
        data = dict(data)
        transaction = renewal = None
        if "signedTransactionInfo" in data:
            transaction = _verified_transaction(verifier, data.pop("signedTransactionInfo"))
            data["transactionInfo"] = transaction
        if "signedRenewalInfo" in data:
            renewal = _verified_renewal_info(verifier, data.pop("signedRenewalInfo"))
            data["renewalInfo"] = renewal
        if (
            transaction is not None
            and renewal is not None
            and transaction.get("originalTransactionId") != renewal.get("originalTransactionId")
        ):
            raise _rejected(
                MALFORMED, "The notification's transaction and renewal info do not match"
            )
        payload["data"] = data

    return AppleNotification(
        notification_uuid=notification_uuid,
        notification_type=notification_type,
        subtype=subtype,
        signed_date=apple_time(payload.get("signedDate")),
        payload=payload,
    )
