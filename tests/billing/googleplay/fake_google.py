"""A local fake of the Google endpoints the Play integration talks to, with real cryptography.

One `tests.fakes.FakeServer` serves:

- the Pub/Sub token certificates, as Google's v1 endpoint does (`{kid: x509 PEM}` with a
  Cache-Control max-age), at a path unique to this instance (so no process-wide cache of an
  earlier instance on a reused port applies);
- the OAuth token endpoint of the service account key (`token_uri`): it checks the JWT-bearer
  assertion's signature with the key's public half, its audience and scope, and issues an
  access token;
- the Play Developer API calls used (`purchases.subscriptionsv2.get`,
  `purchases.subscriptions.acknowledge`), which require an access token it issued.

Purchases are kept in memory in Play's SubscriptionPurchaseV2 shape. The fake records every
request, and can be told to fail (`fail`) or to answer slowly (`delay`).

`Keys` holds RSA key pairs made once per test session: Google's token signing keys (with
self-signed certificates, as Google publishes them), a foreign key Google never published, and
the service account's key.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.fakes import Answer, Failures, FakeServer, Request

PACKAGE = "com.example.groundwork"
AUDIENCE = "https://api.example.com/api/v1/public/webhooks/google"
PUSH_EMAIL = "play-push@groundwork-test.iam.gserviceaccount.com"
PLAY_EMAIL = "play-api@groundwork-test.iam.gserviceaccount.com"
SCOPE = "https://www.googleapis.com/auth/androidpublisher"
KID = "google-signing-key-1"
ROTATED_KID = "google-signing-key-2"
API_PREFIX = "/androidpublisher/v3/applications/"
# The audience Google's token endpoint expects in a service account's assertion, whatever the
# key's token_uri.
OAUTH_AUDIENCE = "https://oauth2.googleapis.com/token"


@dataclass(frozen=True)
class KeyPair:
    private_pem: bytes
    public_pem: bytes
    certificate_pem: str


def _key_pair(common_name: str) -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=14))
        .sign(key, hashes.SHA256())
    )
    return KeyPair(
        private_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        public_pem=key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        certificate_pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
    )


@functools.cache
def keys() -> dict[str, KeyPair]:
    """The session's key pairs: `google`, `rotated` (Google's next key), `foreign`, `play`."""
    return {
        "google": _key_pair("federated-signon@system.gserviceaccount.com"),
        "rotated": _key_pair("federated-signon@system.gserviceaccount.com"),
        "foreign": _key_pair("attacker.example.com"),
        "play": _key_pair(PLAY_EMAIL),
    }


def push_token(
    *,
    audience: str = AUDIENCE,
    email: str = PUSH_EMAIL,
    email_verified: Any = True,
    issuer: str = "https://accounts.google.com",
    expires_in: int = 3600,
    issued_ago: int = 0,
    key: str = "google",
    kid: str = KID,
    algorithm: str = "RS256",
    extra: dict[str, Any] | None = None,
) -> str:
    """An OIDC token as Pub/Sub puts on a push, signed with one of the session's keys."""
    now = int(time.time()) - issued_ago
    claims = {
        "aud": audience,
        "azp": "112233445566778899000",
        "email": email,
        "email_verified": email_verified,
        "exp": now + expires_in,
        "iat": now,
        "iss": issuer,
        "sub": "112233445566778899000",
        **(extra or {}),
    }
    secret: Any = (
        keys()[key].private_pem
        if algorithm.startswith("RS")
        else "a-shared-secret-that-google-never-uses-for-push"
    )
    return jwt.encode(claims, secret, algorithm=algorithm, headers={"kid": kid})


def encode_notification(notification: dict[str, Any]) -> str:
    return base64.b64encode(json.dumps(notification).encode()).decode()


def push_body(
    notification: dict[str, Any] | None = None,
    *,
    message_id: str | None = None,
    data: str | None = None,
) -> dict[str, Any]:
    """A Pub/Sub push body carrying `notification` (or raw `data`)."""
    return {
        "message": {
            "attributes": {},
            "data": data if data is not None else encode_notification(notification or {}),
            "messageId": message_id or str(uuid.uuid4().int)[:16],
            "publishTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        },
        "subscription": "projects/groundwork-test/subscriptions/play-notifications",
    }


def subscription_notification(
    purchase_token: str,
    notification_type: int = 2,
    *,
    package: str = PACKAGE,
    subscription_id: str = "pro_monthly",
) -> dict[str, Any]:
    """A DeveloperNotification about a subscription (type 2: SUBSCRIPTION_RENEWED)."""
    return {
        "version": "1.0",
        "packageName": package,
        "eventTimeMillis": str(int(time.time() * 1000)),
        "subscriptionNotification": {
            "version": "1.0",
            "notificationType": notification_type,
            "purchaseToken": purchase_token,
            "subscriptionId": subscription_id,
        },
    }


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class FakeGoogle(FakeServer):
    """The fake's state; `url` is its base URL once started (`FakeGoogle.running()`)."""

    package: str = PACKAGE
    purchases: dict[str, dict[str, Any]] = field(default_factory=dict)
    certificates: dict[str, str] = field(default_factory=dict)
    cache_control: str = "public, max-age=3600, must-revalidate, no-transform"
    requests: list[Request] = field(default_factory=list)
    issued_tokens: set[str] = field(default_factory=set)
    failures: Failures = field(default_factory=Failures)
    delay_prefix: str = API_PREFIX

    content_type: ClassVar[str] = "application/json; charset=UTF-8"

    def __post_init__(self) -> None:
        super().__post_init__()
        self.instance = uuid.uuid4().hex
        self._ids = itertools.count(1)
        self.certificates = {KID: keys()["google"].certificate_pem}

    @property
    def certs_path(self) -> str:
        return f"/{self.instance}/oauth2/v1/certs"

    @property
    def certs_url(self) -> str:
        return self.url + self.certs_path

    @property
    def token_uri(self) -> str:
        return f"{self.url}/{self.instance}/token"

    def service_account_info(self) -> dict[str, Any]:
        """A service account key file's JSON whose token_uri is this fake."""
        return {
            "type": "service_account",
            "project_id": "groundwork-test",
            "private_key_id": "0123456789abcdef",
            "private_key": keys()["play"].private_pem.decode(),
            "client_email": PLAY_EMAIL,
            "client_id": "123456789012345678901",
            "token_uri": self.token_uri,
        }

    # --- helpers for tests -----------------------------------------------------------------

    @property
    def certificate_fetches(self) -> int:
        return len(self.calls("GET", self.certs_path))

    @property
    def purchase_reads(self) -> list[Request]:
        return self.calls("GET", "/purchases/subscriptionsv2/tokens/")

    @property
    def acknowledgements(self) -> list[Request]:
        return self.calls("POST", ":acknowledge")

    def fail(self, status: int = 500, *, times: int = 1, path_prefix: str = API_PREFIX) -> None:
        """Answer the next `times` requests under `path_prefix` with this status."""
        self.failures.add(status, times=times, path_prefix=path_prefix)

    def add_subscription(
        self,
        token: str | None = None,
        *,
        state: str = "SUBSCRIPTION_STATE_ACTIVE",
        product_id: str = "pro_monthly",
        expiry: datetime | None = None,
        auto_renew: bool = True,
        acknowledged: bool = True,
        account_id: str | None = None,
        linked_purchase_token: str | None = None,
        line_items: list[dict[str, Any]] | None = None,
    ) -> str:
        """Store a SubscriptionPurchaseV2 under a purchase token; returns the token."""
        token = token or f"fake-purchase-token.{next(self._ids):04d}.{uuid.uuid4().hex}"
        expiry = expiry or datetime.now(UTC) + timedelta(days=30)
        purchase: dict[str, Any] = {
            "kind": "androidpublisher#subscriptionPurchaseV2",
            "regionCode": "US",
            "startTime": rfc3339(datetime.now(UTC) - timedelta(days=1)),
            "subscriptionState": state,
            "latestOrderId": f"GPA.1234-5678-9012-{next(self._ids):05d}",
            "acknowledgementState": (
                "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
                if acknowledged
                else "ACKNOWLEDGEMENT_STATE_PENDING"
            ),
            "lineItems": line_items
            or [
                {
                    "productId": product_id,
                    "expiryTime": rfc3339(expiry),
                    "autoRenewingPlan": {"autoRenewEnabled": auto_renew},
                    "offerDetails": {"basePlanId": "monthly", "offerTags": []},
                }
            ],
        }
        if account_id is not None:
            purchase["externalAccountIdentifiers"] = {"obfuscatedExternalAccountId": account_id}
        if linked_purchase_token is not None:
            purchase["linkedPurchaseToken"] = linked_purchase_token
        with self.lock:
            self.purchases[token] = purchase
        return token

    def update(self, token: str, **fields: Any) -> None:
        with self.lock:
            self.purchases[token].update(fields)

    # --- request handling ------------------------------------------------------------------

    def answer(self, request: Request) -> Answer:
        method, path, headers = request.method, request.path, request.headers
        failure = self.failures.take(path)
        if failure is not None:
            return failure.status, _error(failure.status, "Injected failure")
        if method == "GET" and path == self.certs_path:
            return 200, dict(self.certificates), {"Cache-Control": self.cache_control}
        if method == "POST" and path == f"/{self.instance}/token":
            return self._token(request.body)
        if path.startswith(API_PREFIX):
            if headers.get("authorization", "").removeprefix("Bearer ") not in self.issued_tokens:
                return 401, _error(401, "Request had invalid authentication credentials.")
            return self._play(method, path)
        return 404, _error(404, "Not found")

    def _token(self, body: bytes) -> Answer:
        form = dict(parse_qsl(body.decode()))
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer":
            return 400, {"error": "unsupported_grant_type"}
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                keys()["play"].public_pem,
                algorithms=["RS256"],
                audience=OAUTH_AUDIENCE,
            )
        except jwt.PyJWTError as error:
            return 400, {"error": "invalid_grant", "error_description": str(error)}
        if claims.get("iss") != PLAY_EMAIL or SCOPE not in str(claims.get("scope", "")).split():
            return 400, {"error": "invalid_scope"}
        access_token = f"ya29.fake-{uuid.uuid4().hex}"
        with self.lock:
            self.issued_tokens.add(access_token)
        return 200, {"access_token": access_token, "expires_in": 3599, "token_type": "Bearer"}

    def _play(self, method: str, path: str) -> Answer:
        rest = path.removeprefix(API_PREFIX)
        package, _, rest = rest.partition("/purchases/")
        if package != self.package:
            return 404, _error(404, "No application was found for the given package name.")
        if method == "GET" and rest.startswith("subscriptionsv2/tokens/"):
            token = unquote(rest.removeprefix("subscriptionsv2/tokens/"))
            with self.lock:
                purchase = self.purchases.get(token)
                answer = json.loads(json.dumps(purchase)) if purchase is not None else None
            if answer is None:
                return 410 if token.startswith("gone") else 404, _error(404, "Not found")
            return 200, answer
        if method == "POST" and rest.startswith("subscriptions/") and rest.endswith(":acknowledge"):
            subscription_id, _, token = rest.removeprefix("subscriptions/").partition("/tokens/")
            token = unquote(token.removesuffix(":acknowledge"))
            with self.lock:
                purchase = self.purchases.get(token)
                if purchase is None or subscription_id not in {
                    item["productId"] for item in purchase["lineItems"]
                }:
                    return 400, _error(400, "The purchase token does not match.")
                purchase["acknowledgementState"] = "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"
            return 200, None
        return 404, _error(404, "Not found")


def _error(status: int, message: str) -> dict[str, Any]:
    return {"error": {"code": status, "message": message, "status": "ERROR"}}
