"""Fixtures for the identity-provider webhooks: configured secrets, signed deliveries, payloads.

The Svix signer here is written from Svix's specification, independently of the code under test:
base64(HMAC-SHA256(base64decode(secret after "whsec_"), "<id>.<timestamp>.<body>")).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest

CLERK_URL = "/api/v1/public/webhooks/clerk"
SUPABASE_URL = "/api/v1/public/webhooks/supabase"
CLERK_SECRET = "whsec_" + base64.b64encode(b"clerk-test-signing-key-0123456789").decode()
OTHER_CLERK_SECRET = "whsec_" + base64.b64encode(b"some-other-signing-key-987654321").decode()
SUPABASE_SECRET = "supabase-webhook-test-secret-0123"


def svix_sign(body: bytes, *, msg_id: str, timestamp: int | str, secret: str = CLERK_SECRET) -> str:
    """One `v1,<base64>` entry, as Svix computes it."""
    key = base64.b64decode(secret.split("_", 1)[1])
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def ms(seconds_ago: float = 0) -> int:
    """A Clerk timestamp (Unix milliseconds)."""
    return int((time.time() - seconds_ago) * 1000)


def clerk_user(
    user_id: str = "user_2ada",
    *,
    emails: tuple[str, ...] = ("Ada@Example.com",),
    primary: int | None = 0,
    first_name: str | None = "Ada",
    last_name: str | None = "Lovelace",
    image_url: str | None = "https://img.clerk.com/ada.png",
    updated_at: int | None = None,
) -> dict[str, Any]:
    """Clerk's User object as `user.created` / `user.updated` carry it."""
    addresses = [
        {
            "id": f"idn_{index}",
            "object": "email_address",
            "email_address": address,
            "linked_to": [],
            "verification": {"status": "verified", "strategy": "email_code"},
        }
        for index, address in enumerate(emails)
    ]
    created = ms(3600)
    return {
        "id": user_id,
        "object": "user",
        "email_addresses": addresses,
        "primary_email_address_id": None if primary is None else f"idn_{primary}",
        "first_name": first_name,
        "last_name": last_name,
        "image_url": image_url,
        "has_image": image_url is not None,
        "username": None,
        "phone_numbers": [],
        "external_accounts": [],
        "public_metadata": {},
        "private_metadata": {},
        "unsafe_metadata": {},
        "created_at": created,
        "updated_at": ms() if updated_at is None else updated_at,
        "last_sign_in_at": None,
    }


def clerk_event(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """Clerk's event envelope."""
    return {
        "data": data,
        "instance_id": "ins_test",
        "object": "event",
        "timestamp": ms(),
        "type": event_type,
        "event_attributes": {"http_request": {"client_ip": "192.0.2.1", "user_agent": "test"}},
    }


def clerk_deleted(user_id: str = "user_2ada") -> dict[str, Any]:
    return clerk_event("user.deleted", {"id": user_id, "object": "user", "deleted": True})


def supabase_user(
    user_id: str | None = None,
    *,
    email: str | None = "grace@example.com",
    metadata: dict[str, Any] | None = None,
    updated_at: str = "2025-01-02T10:00:00.000000+00:00",
    deleted_at: str | None = None,
) -> dict[str, Any]:
    """A row of Supabase's auth.users as a database webhook serialises it."""
    return {
        "id": user_id or str(uuid.uuid4()),
        "aud": "authenticated",
        "role": "authenticated",
        "email": email,
        "phone": None,
        "raw_app_meta_data": {"provider": "email", "providers": ["email"]},
        "raw_user_meta_data": (
            {"full_name": "Grace Hopper", "avatar_url": "https://cdn.example.com/grace.png"}
            if metadata is None
            else metadata
        ),
        "is_super_admin": None,
        "created_at": "2025-01-01T09:00:00.000000+00:00",
        "updated_at": updated_at,
        "deleted_at": deleted_at,
    }


def supabase_webhook(
    operation: str,
    record: dict[str, Any] | None,
    old_record: dict[str, Any] | None = None,
    *,
    schema: str = "auth",
    table: str = "users",
) -> dict[str, Any]:
    return {
        "type": operation,
        "table": table,
        "schema": schema,
        "record": record,
        "old_record": old_record,
    }


@pytest.fixture(autouse=True)
def identity_settings(settings: Any) -> None:
    """Both providers configured; processing retries are few and immediate."""
    settings.CLERK_WEBHOOK_SECRET = CLERK_SECRET
    settings.SUPABASE_WEBHOOK_SECRET = SUPABASE_SECRET
    settings.WEBHOOK_MAX_RETRIES = 3
    settings.WEBHOOK_RETRY_BACKOFF_SECONDS = 0


@pytest.fixture
def send_clerk(client: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """POST a Clerk event signed as Svix signs it, and run its processing (the on-commit task).

    `body` replaces the serialised event; `headers` replace the svix headers entirely.
    """

    def send(
        event: dict[str, Any] | None = None,
        *,
        msg_id: str | None = None,
        timestamp: int | None = None,
        secret: str = CLERK_SECRET,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        raw = json.dumps(event).encode() if body is None else body
        msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
        timestamp = int(time.time()) if timestamp is None else timestamp
        if headers is None:
            headers = {
                "svix-id": msg_id,
                "svix-timestamp": str(timestamp),
                "svix-signature": svix_sign(raw, msg_id=msg_id, timestamp=timestamp, secret=secret),
            }
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                CLERK_URL, data=raw, content_type="application/json", headers=headers
            )

    return send


@pytest.fixture
def send_supabase(client: Any, django_capture_on_commit_callbacks: Any) -> Callable[..., Any]:
    """POST a Supabase database webhook with the bearer secret, and run its processing."""

    def send(
        webhook: dict[str, Any] | None = None,
        *,
        body: bytes | None = None,
        authorization: str | None = f"Bearer {SUPABASE_SECRET}",
    ) -> Any:
        raw = json.dumps(webhook).encode() if body is None else body
        headers = {} if authorization is None else {"Authorization": authorization}
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                SUPABASE_URL, data=raw, content_type="application/json", headers=headers
            )

    return send
