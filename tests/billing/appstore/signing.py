"""An offline App Store: a certificate chain shaped like Apple's, and JWS signed as Apple signs.

Root (EC P-256, self-signed CA) → intermediate (CA, OID 1.2.840.113635.100.6.2.1) → leaf (OID
1.2.840.113635.100.6.11.1), each with basicConstraints, keyUsage, SubjectKeyIdentifier and
AuthorityKeyIdentifier, as OpenSSL's strict mode wants them. Data is signed ES256 by the leaf
with an `x5c` header listing leaf, intermediate and root (base64 DER), and no `typ`.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

INTERMEDIATE_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.2.1")
LEAF_OID = x509.ObjectIdentifier("1.2.840.113635.100.6.11.1")

BUNDLE_ID = "com.example.groundwork"
APP_ID = 1234567890
PRODUCT = "com.example.groundwork.pro.monthly"
ENTERPRISE_PRODUCT = "com.example.groundwork.enterprise.yearly"

AUTO_RENEWABLE = "Auto-Renewable Subscription"
NON_CONSUMABLE = "Non-Consumable"
CONSUMABLE = "Consumable"
NON_RENEWING = "Non-Renewing Subscription"


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Groundwork Test CA"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )


def _certificate(
    *,
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None,
    issuer_key: ec.EllipticCurvePrivateKey,
    ca: bool,
    marker: x509.ObjectIdentifier | None,
) -> x509.Certificate:
    now = datetime.now(UTC)
    issuer_name = issuer.subject if issuer is not None else _name(subject)
    issuer_public = issuer_key.public_key()
    key_usage = x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=30))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False
        )
    )
    if marker is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(marker, b"\x05\x00"), False)
    return builder.sign(issuer_key, hashes.SHA256())


def _der_b64(certificate: x509.Certificate) -> str:
    return base64.b64encode(certificate.public_bytes(serialization.Encoding.DER)).decode()


@dataclass
class Chain:
    """A root, an intermediate and a leaf, and the leaf's key to sign with."""

    root: x509.Certificate
    intermediate: x509.Certificate
    leaf: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey

    def x5c(self) -> list[str]:
        return [_der_b64(self.leaf), _der_b64(self.intermediate), _der_b64(self.root)]

    def sign(self, claims: dict[str, Any]) -> str:
        """A JWS of `claims`, signed ES256 by the leaf, with the chain in `x5c`."""
        return jwt.encode(
            claims,
            self.leaf_key,
            algorithm="ES256",
            headers={"x5c": self.x5c(), "typ": None},
        )

    def write_root(self, directory: Path, *, pem: bool = False) -> str:
        """Write the root certificate to a file (DER, or PEM); returns its path."""
        encoding = serialization.Encoding.PEM if pem else serialization.Encoding.DER
        path = directory / f"root-{uuid.uuid4().hex[:8]}.{'pem' if pem else 'cer'}"
        path.write_bytes(self.root.public_bytes(encoding))
        return str(path)


def make_chain(*, intermediate_oid: bool = True, leaf_oid: bool = True) -> Chain:
    """A fresh chain; without one of Apple's OIDs to show the verifier insists on it."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    intermediate_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    root = _certificate(
        subject="Test Root CA", key=root_key, issuer=None, issuer_key=root_key, ca=True, marker=None
    )
    intermediate = _certificate(
        subject="Test WWDR Intermediate",
        key=intermediate_key,
        issuer=root,
        issuer_key=root_key,
        ca=True,
        marker=INTERMEDIATE_OID if intermediate_oid else None,
    )
    leaf = _certificate(
        subject="Test App Store Signing",
        key=leaf_key,
        issuer=intermediate,
        issuer_key=intermediate_key,
        ca=False,
        marker=LEAF_OID if leaf_oid else None,
    )
    return Chain(root=root, intermediate=intermediate, leaf=leaf, leaf_key=leaf_key)


# --- Apple's payloads ------------------------------------------------------------------------


def ms(moment: datetime) -> int:
    """An App Store timestamp: UNIX milliseconds."""
    return int(moment.timestamp() * 1000)


def now_ms(offset: timedelta = timedelta()) -> int:
    return int((time.time() + offset.total_seconds()) * 1000)


def transaction_claims(
    *,
    original_transaction_id: str = "2000000100000001",
    product_id: str = PRODUCT,
    product_type: str = AUTO_RENEWABLE,
    expires: timedelta | None = timedelta(days=30),
    revoked: bool = False,
    app_account_token: str | None = None,
    signed: timedelta = timedelta(),
    environment: str = "Sandbox",
    bundle_id: str = BUNDLE_ID,
) -> dict[str, Any]:
    """A JWSTransactionDecodedPayload; `expires`/`signed` are offsets from now."""
    claims: dict[str, Any] = {
        "transactionId": f"{original_transaction_id}9",
        "originalTransactionId": original_transaction_id,
        "bundleId": bundle_id,
        "productId": product_id,
        "purchaseDate": now_ms(-timedelta(days=1)),
        "originalPurchaseDate": now_ms(-timedelta(days=60)),
        "quantity": 1,
        "type": product_type,
        "inAppOwnershipType": "PURCHASED",
        "signedDate": now_ms(signed),
        "environment": environment,
        "transactionReason": "PURCHASE",
        "storefront": "USA",
        "storefrontId": "143441",
        "price": 9990,
        "currency": "USD",
    }
    if product_type in (AUTO_RENEWABLE, NON_RENEWING) and expires is not None:
        claims["expiresDate"] = now_ms(expires)
        claims["subscriptionGroupIdentifier"] = "21000000"
        claims["webOrderLineItemId"] = f"{original_transaction_id}7"
    if revoked:
        claims["revocationDate"] = now_ms(-timedelta(minutes=5))
        claims["revocationReason"] = 0
    if app_account_token is not None:
        claims["appAccountToken"] = app_account_token
    return claims


def renewal_claims(
    *,
    original_transaction_id: str = "2000000100000001",
    product_id: str = PRODUCT,
    auto_renew: bool = True,
    grace_ends: timedelta | None = None,
    billing_retry: bool = False,
    environment: str = "Sandbox",
    signed: timedelta = timedelta(),
    app_account_token: str | None = None,
) -> dict[str, Any]:
    """A JWSRenewalInfoDecodedPayload."""
    claims: dict[str, Any] = {
        "originalTransactionId": original_transaction_id,
        "productId": product_id,
        "autoRenewProductId": product_id,
        "autoRenewStatus": 1 if auto_renew else 0,
        "isInBillingRetryPeriod": billing_retry,
        "signedDate": now_ms(signed),
        "environment": environment,
        "recentSubscriptionStartDate": now_ms(-timedelta(days=60)),
        "renewalDate": now_ms(timedelta(days=30)),
    }
    if grace_ends is not None:
        claims["gracePeriodExpiresDate"] = now_ms(grace_ends)
    if app_account_token is not None:
        claims["appAccountToken"] = app_account_token
    return claims


def notification_claims(
    *,
    notification_type: str,
    subtype: str | None = None,
    signed_transaction: str | None = None,
    signed_renewal: str | None = None,
    notification_uuid: str | None = None,
    signed: timedelta = timedelta(),
    environment: str = "Sandbox",
    bundle_id: str = BUNDLE_ID,
    app_id: int | None = APP_ID,
) -> dict[str, Any]:
    """A ResponseBodyV2DecodedPayload whose `data` carries the given signed data."""
    data: dict[str, Any] = {
        "bundleId": bundle_id,
        "bundleVersion": "42",
        "environment": environment,
    }
    if app_id is not None:
        data["appAppleId"] = app_id
    if signed_transaction is not None:
        data["signedTransactionInfo"] = signed_transaction
    if signed_renewal is not None:
        data["signedRenewalInfo"] = signed_renewal
        data["status"] = 1
    claims: dict[str, Any] = {
        "notificationType": notification_type,
        "notificationUUID": notification_uuid or str(uuid.uuid4()),
        "data": data,
        "version": "2.0",
        "signedDate": now_ms(signed),
    }
    if subtype is not None:
        claims["subtype"] = subtype
    return claims


def tamper_payload(jws: str, **changes: Any) -> str:
    """The same header and signature over changed claims (what an attacker could send)."""
    header, _, signature = jws.split(".")
    claims = jwt.decode(jws, options={"verify_signature": False}) | changes
    body = jwt.utils.base64url_encode(json.dumps(claims, separators=(",", ":")).encode()).decode()
    return f"{header}.{body}.{signature}"


def tamper_signature(jws: str) -> str:
    """The same header and claims with one bit of the signature flipped."""
    header, body, signature = jws.split(".")
    raw = bytearray(jwt.utils.base64url_decode(signature))
    raw[10] ^= 0x01
    return f"{header}.{body}.{jwt.utils.base64url_encode(bytes(raw)).decode()}"


class AppStore:
    """Signs what the App Store sends, with one chain, for one app and environment."""

    def __init__(self, chain: Chain, *, environment: str = "Sandbox") -> None:
        self.chain = chain
        self.environment = environment

    def transaction(self, **claims: Any) -> str:
        """A signed transaction (StoreKit 2 `jwsRepresentation`); see `transaction_claims`."""
        return self.chain.sign(transaction_claims(environment=self.environment, **claims))

    def renewal(self, **claims: Any) -> str:
        """A signed renewal info; see `renewal_claims`."""
        return self.chain.sign(renewal_claims(environment=self.environment, **claims))

    def notification(
        self,
        notification_type: str,
        subtype: str | None = None,
        *,
        transaction: dict[str, Any] | None = None,
        renewal: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A signed notification whose transaction and renewal info are signed claims."""
        claims.setdefault("environment", self.environment)
        return self.chain.sign(
            notification_claims(
                notification_type=notification_type,
                subtype=subtype,
                signed_transaction=self.chain.sign(transaction) if transaction else None,
                signed_renewal=self.chain.sign(renewal) if renewal else None,
                **claims,
            )
        )
