"""POST /api/v1/public/webhooks/clerk and /webhooks/supabase: identity providers' user events.

Clerk delivers through Svix, which signs every delivery with three headers: `svix-id` (the
message id, the same on every retry), `svix-timestamp` (Unix seconds) and `svix-signature`, a
space-separated list of `<version>,<base64>` entries. Each `v1` entry is the base64 HMAC-SHA256,
keyed with the base64-decoded part of `CLERK_WEBHOOK_SECRET` after `whsec_`, of
`"<svix-id>.<svix-timestamp>.<raw body>"`. Any one `v1` entry may match (several are sent while a
secret is rolled); other versions are ignored. The timestamp must be within
`CLERK_WEBHOOK_TOLERANCE_SECONDS` of now, in the past or in the future. The event is stored under
the svix id, so a redelivery of the same message is a duplicate, with Clerk's `type` as its type.

Supabase database webhooks carry no signature: the hook is configured with the header
`Authorization: Bearer <SUPABASE_WEBHOOK_SECRET>`, compared in constant time; a missing or wrong
one is a 401. They carry no event id either: the event is stored under the SHA-256 digest of the
raw body, so an identical redelivery is a duplicate (and two truly identical changes would have
the same effect anyway). Its type is `<schema>.<table>.<operation>`; only `auth.users.*` has
handlers, any other table's webhook is stored and ends `ignored`.

Every failed check answers before anything is stored. The handlers are in
`accounts.identity_events`.

The ledger keeps only what those handlers read (`CLERK_FIELDS`, `SUPABASE_FIELDS`): the user's
id, email and its verification, names, avatar and times. Supabase's `auth.users` rows also carry
the password hash, recovery, confirmation and email-change tokens, the phone number and the
provider's app metadata; Clerk's users their phone numbers, external accounts and private
metadata: none of it is stored. An event's subject is the user's id; the user's erasure scrubs
the personal fields (email, names, avatar) of every event about them
(`identity_events_scrub`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.request import Request

from accounts.identity_events import (
    CLERK,
    SUPABASE,
    SUPABASE_USERS,
    clerk_change,
    supabase_change,
    supabase_event_type,
)
from config.errors import AuthenticationError, BadRequestError
from webhooks.intake import VerifiedEvent, WebhookIntakeView, parse_json_object
from webhooks.payloads import KEEP, PERSONAL
from webhooks.registry import register_payload
from webhooks.services import webhook_events_scrub

# What the ledger keeps of a Clerk event: the envelope and the fields of a User object that
# `identity_events.clerk_change` reads (other event types keep the same few fields of `data`).
CLERK_FIELDS = {
    **dict.fromkeys(("type", "object", "timestamp", "instance_id"), KEEP),
    "data": {
        **dict.fromkeys(
            ("id", "object", "deleted", "created_at", "updated_at", "primary_email_address_id"),
            KEEP,
        ),
        **dict.fromkeys(("first_name", "last_name", "image_url"), PERSONAL),
        "email_addresses": [
            {
                "id": KEEP,
                "object": KEEP,
                "email_address": PERSONAL,
                "verification": {"status": KEEP, "strategy": KEEP},
            }
        ],
    },
}
# ...and of a Supabase database webhook: of a row, what `identity_events.supabase_change` reads.
_SUPABASE_ROW = {
    **dict.fromkeys(
        ("id", "created_at", "updated_at", "deleted_at", "email_confirmed_at", "confirmed_at"),
        KEEP,
    ),
    "email": PERSONAL,
    "raw_user_meta_data": {
        **dict.fromkeys(("full_name", "name", "avatar_url", "picture"), PERSONAL),
        "email_verified": KEEP,
    },
}
SUPABASE_FIELDS = {
    **dict.fromkeys(("type", "schema", "table"), KEEP),
    "record": _SUPABASE_ROW,
    "old_record": _SUPABASE_ROW,
}


def _row_id(row: Any) -> str | None:
    value = row.get("id") if isinstance(row, Mapping) else None
    return value if isinstance(value, str) and value else None


def clerk_subject(payload: Any) -> str | None:
    """The user a Clerk event is about (`data.id`), for user events."""
    if not isinstance(payload, Mapping) or not str(payload.get("type", "")).startswith("user."):
        return None
    return _row_id(payload.get("data"))


def supabase_subject(payload: Any) -> str | None:
    """The user an auth.users webhook is about (its row's id)."""
    if not isinstance(payload, Mapping):
        return None
    if (payload.get("schema"), payload.get("table")) != SUPABASE_USERS:
        return None
    return _row_id(payload.get("record")) or _row_id(payload.get("old_record"))


def register_payloads() -> None:
    """Declare what the ledger keeps of Clerk's and Supabase's events (see the module)."""
    register_payload(CLERK, fields=CLERK_FIELDS, subject=clerk_subject)
    register_payload(SUPABASE, fields=SUPABASE_FIELDS, subject=supabase_subject)


def identity_events_scrub(*, user_id: str) -> int:
    """Erasure: remove the personal fields of the identity providers' events about the user."""
    return sum(
        webhook_events_scrub(provider=provider, subjects=[user_id])
        for provider in (CLERK, SUPABASE)
    )


SVIX_SIGNATURE_VERSION = "v1"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix of every Svix secret, not a secret
TIMESTAMP_MAX_DIGITS = 12


def svix_key(secret: str) -> bytes:
    """The HMAC key of a Svix signing secret (`whsec_<base64>`); ValueError when malformed."""
    try:
        key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("The signing secret is not whsec_<base64>") from None
    if not key:
        raise ValueError("The signing secret is empty")
    return key


def svix_signature(*, key: bytes, message_id: str, timestamp: str, payload: bytes) -> str:
    """The base64 `v1` signature Svix computes for this message."""
    signed = f"{message_id}.{timestamp}.".encode() + payload
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify_svix_signature(
    *,
    payload: bytes,
    message_id: str,
    timestamp: str,
    signature_header: str,
    key: bytes,
    tolerance: int,
    now: float | None = None,
) -> None:
    """Raise BadRequestError unless the Svix headers sign `payload` with `key` within tolerance."""
    if not message_id:
        raise BadRequestError("Missing svix-id header", details={"reason": "id"})
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > TIMESTAMP_MAX_DIGITS:
        raise BadRequestError(
            "Missing or malformed svix-timestamp header", details={"reason": "timestamp"}
        )
    candidates = [
        value.encode()
        for version, separator, value in (
            entry.partition(",") for entry in signature_header.split(" ")
        )
        if separator and version == SVIX_SIGNATURE_VERSION and value
    ]
    if not candidates:
        raise BadRequestError("No v1 signature in svix-signature", details={"reason": "signature"})
    expected = svix_signature(
        key=key, message_id=message_id, timestamp=timestamp, payload=payload
    ).encode()
    # Every candidate is compared (no early exit), each in constant time.
    matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    if not any(matches):
        raise BadRequestError("Invalid svix signature", details={"reason": "signature"})
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        raise BadRequestError(
            "svix-timestamp outside the tolerance", details={"reason": "timestamp"}
        )


class ClerkWebhookView(WebhookIntakeView):
    """Clerk's webhook endpoint (add it in Clerk's dashboard and copy its signing secret)."""

    provider = "clerk"

    def is_configured(self) -> bool:
        try:
            svix_key(settings.CLERK_WEBHOOK_SECRET or "")
        except ValueError:
            return False
        return True

    def verify(self, request: Request) -> VerifiedEvent:
        body: bytes = request.body
        message_id = request.headers.get("svix-id", "")
        verify_svix_signature(
            payload=body,
            message_id=message_id,
            timestamp=request.headers.get("svix-timestamp", ""),
            signature_header=request.headers.get("svix-signature", ""),
            key=svix_key(settings.CLERK_WEBHOOK_SECRET),
            tolerance=settings.CLERK_WEBHOOK_TOLERANCE_SECONDS,
        )
        data = parse_json_object(body)
        event_type = data.get("type")
        if not isinstance(event_type, str) or not event_type:
            raise BadRequestError("The body is not a Clerk event")
        try:
            clerk_change(event_type=event_type, payload=data)
        except ValueError as error:
            raise BadRequestError(f"Unusable Clerk user event: {error}") from None
        return VerifiedEvent(event_id=message_id, event_type=event_type, payload=data)


class SupabaseWebhookView(WebhookIntakeView):
    """Supabase's database webhook endpoint (a hook on auth.users sending the bearer secret)."""

    provider = "supabase"

    def is_configured(self) -> bool:
        return bool(settings.SUPABASE_WEBHOOK_SECRET)

    def verify(self, request: Request) -> VerifiedEvent:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expected = settings.SUPABASE_WEBHOOK_SECRET.encode()
        # Compared as bytes: compare_digest refuses str with non-ASCII characters.
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected):
            raise AuthenticationError(
                "Missing or wrong webhook bearer token", headers={"WWW-Authenticate": "Bearer"}
            )
        body: bytes = request.body
        data = parse_json_object(body)
        try:
            event_type = supabase_event_type(data)
            supabase_change(payload=data)
        except ValueError as error:
            raise BadRequestError(f"The body is not a usable database webhook: {error}") from None
        event_id = f"sha256:{hashlib.sha256(body).hexdigest()}"
        return VerifiedEvent(event_id=event_id, event_type=event_type, payload=data)
