"""Handlers of the identity providers' user events: Clerk's and Supabase's, kept in step here.

`accounts.identity_webhooks` verifies and stores each delivery; the ledger then runs the handler
registered here for its type (inside the event's transaction, at most once to success). Each
handler reads the event's payload into an `IdentityChange` and applies it with
`accounts.services`:

- Clerk `user.created` / `user.updated`, Supabase `auth.users.INSERT` / `auth.users.UPDATE`:
  create or update the profile (email, full name, avatar), ordered by the provider's
  `updated_at` so an older copy never overwrites a newer one.
- Clerk `user.deleted`, Supabase `auth.users.DELETE` (or any row with `deleted_at` set):
  deactivate and erase, as DELETE /users/me does. A deletion of an unknown user changes nothing.

A creation is also refused when the ledger already holds the subject's deletion: providers do not
deliver in order, and a `user.created` retried after its `user.deleted` of a user never seen
here must not create the person. Every other event type ends `ignored`.

The parsers (`clerk_change`, `supabase_change`) also serve the intake views, which refuse a user
event they cannot read with 400 rather than store an event no handler could ever apply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.selectors import user_get
from accounts.services import user_delete_from_identity, user_sync_from_identity
from webhooks.models import WebhookEvent
from webhooks.registry import register
from webhooks.services import webhook_events_scrub

logger = logging.getLogger(__name__)

CLERK = "clerk"
SUPABASE = "supabase"

CLERK_UPSERTS = frozenset({"user.created", "user.updated"})
CLERK_DELETED = "user.deleted"
SUPABASE_OPERATIONS = frozenset({"INSERT", "UPDATE", "DELETE"})
SUPABASE_USERS = ("auth", "users")
USER_ID_MAX_LENGTH = 255


@dataclass(frozen=True)
class IdentityChange:
    """What one provider event says about one user: its new profile, or its deletion."""

    user_id: str
    deleted: bool = False
    email: str | None = None
    full_name: str | None = None
    avatar_url: str | None = None
    synced_at: datetime | None = None
    # The provider's word on the email: None when the event says nothing.
    email_verified: bool | None = None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _user_id(value: Any) -> str:
    if (
        not isinstance(value, str)
        or not value
        or len(value) > USER_ID_MAX_LENGTH
        or "\x00" in value
    ):
        raise ValueError(f"The user id must be a string of 1 to {USER_ID_MAX_LENGTH} characters")
    return value


def _from_milliseconds(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _from_iso(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = parse_datetime(value)
    except ValueError:
        return None
    if moment is None:
        return None
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def _clerk_email(user: Mapping[str, Any]) -> tuple[str | None, bool | None]:
    """The primary email address, else the first one listed, and whether Clerk verified it
    (`verification.status`; None when the entry does not say)."""
    addresses = user.get("email_addresses")
    if not isinstance(addresses, list):
        return None, None
    entries = [entry for entry in addresses if isinstance(entry, Mapping)]
    primary_id = user.get("primary_email_address_id")
    primary = [entry for entry in entries if primary_id and entry.get("id") == primary_id]
    for entry in primary or entries:
        address = _text(entry.get("email_address"))
        if address:
            verification = entry.get("verification")
            status = verification.get("status") if isinstance(verification, Mapping) else None
            return address, (status == "verified" if isinstance(status, str) else None)
    return None, None


def _joined_name(*parts: Any) -> str | None:
    words = [part.strip() for part in parts if isinstance(part, str) and part.strip()]
    return " ".join(words) or None


def clerk_change(*, event_type: str, payload: Any) -> IdentityChange | None:
    """The change a Clerk event makes to a user; None when its type is not about one.

    Raises ValueError for a user event whose `data` carries no usable user id.
    """
    if event_type not in CLERK_UPSERTS and event_type != CLERK_DELETED:
        return None
    data = payload.get("data") if isinstance(payload, Mapping) else None
    if not isinstance(data, Mapping):
        raise ValueError("A Clerk user event needs a `data` object")
    user_id = _user_id(data.get("id"))
    if event_type == CLERK_DELETED:
        return IdentityChange(user_id=user_id, deleted=True)
    email, email_verified = _clerk_email(data)
    return IdentityChange(
        user_id=user_id,
        email=email,
        email_verified=email_verified,
        full_name=_joined_name(data.get("first_name"), data.get("last_name")),
        avatar_url=_text(data.get("image_url")),
        synced_at=_from_milliseconds(data.get("updated_at")),
    )


def supabase_event_type(payload: Mapping[str, Any]) -> str:
    """`<schema>.<table>.<operation>` of a database webhook, e.g. `auth.users.INSERT`.

    Raises ValueError when the body is not a database webhook.
    """
    operation, schema, table = payload.get("type"), payload.get("schema"), payload.get("table")
    if not isinstance(operation, str) or operation not in SUPABASE_OPERATIONS:
        raise ValueError("`type` must be INSERT, UPDATE or DELETE")
    if not _text(schema) or not _text(table):
        raise ValueError("`schema` and `table` must be names")
    for key in ("record", "old_record"):
        if payload.get(key) is not None and not isinstance(payload.get(key), Mapping):
            raise ValueError(f"`{key}` must be an object or null")
    return f"{schema}.{table}.{operation}"


def supabase_change(*, payload: Any) -> IdentityChange | None:
    """The change a Supabase database webhook makes to a user; None unless it is on auth.users.

    INSERT and UPDATE carry the row in `record`, DELETE the former row in `old_record`; a row
    whose `deleted_at` is set (a soft delete) is a deletion too. Raises ValueError for an
    auth.users webhook without the row it needs.
    """
    if not isinstance(payload, Mapping):
        raise ValueError("A database webhook is a JSON object")
    supabase_event_type(payload)
    if (payload.get("schema"), payload.get("table")) != SUPABASE_USERS:
        return None
    operation = payload["type"]
    row = payload.get("old_record" if operation == "DELETE" else "record")
    if not isinstance(row, Mapping):
        raise ValueError(f"A {operation} of auth.users needs its row")
    user_id = _user_id(row.get("id"))
    if operation == "DELETE" or row.get("deleted_at") is not None:
        return IdentityChange(user_id=user_id, deleted=True)
    metadata = row.get("raw_user_meta_data")
    metadata = metadata if isinstance(metadata, Mapping) else {}
    # Supabase confirms an address by setting `email_confirmed_at` (`confirmed_at` before it).
    confirmed_key = next((k for k in ("email_confirmed_at", "confirmed_at") if k in row), None)
    return IdentityChange(
        user_id=user_id,
        email=_text(row.get("email")),
        email_verified=None if confirmed_key is None else row[confirmed_key] is not None,
        full_name=_text(metadata.get("full_name")) or _text(metadata.get("name")),
        avatar_url=_text(metadata.get("avatar_url")) or _text(metadata.get("picture")),
        synced_at=_from_iso(row.get("updated_at")),
    )


def _deletion_recorded(provider: str, user_id: str) -> bool:
    """Whether the ledger holds this provider's deletion of `user_id` (Supabase: hard deletes)."""
    deleted = CLERK_DELETED if provider == CLERK else "auth.users.DELETE"
    return WebhookEvent.objects.filter(
        provider=provider, subject=user_id, event_type=deleted
    ).exists()


def _apply(provider: str, change: IdentityChange) -> None:
    if change.deleted:
        user_delete_from_identity(user_id=change.user_id)
        return
    # Only a creation needs the ledger: a known user's deletion leaves it erased, which
    # `user_sync_from_identity` respects by itself.
    if user_get(user_id=change.user_id) is None and _deletion_recorded(provider, change.user_id):
        logger.info(
            "identity event for a deleted user skipped",
            extra={"user_id": change.user_id, "provider": provider},
        )
        # A late copy of a deleted person's profile is not kept in the ledger either.
        webhook_events_scrub(provider=provider, subjects=[change.user_id])
        return
    outcome = user_sync_from_identity(
        user_id=change.user_id,
        email=change.email,
        full_name=change.full_name,
        avatar_url=change.avatar_url,
        synced_at=change.synced_at,
        email_verified=change.email_verified,
    )
    logger.info(
        "identity sync %s", outcome, extra={"user_id": change.user_id, "provider": provider}
    )
    if outcome == "erased":
        webhook_events_scrub(provider=provider, subjects=[change.user_id])


def clerk_user_event(event: WebhookEvent) -> None:
    """Clerk `user.created`, `user.updated`, `user.deleted`: sync or delete the user."""
    change = clerk_change(event_type=event.event_type, payload=event.payload)
    if change is not None:
        _apply(CLERK, change)


def supabase_user_event(event: WebhookEvent) -> None:
    """Supabase `auth.users.INSERT`, `.UPDATE`, `.DELETE`: sync or delete the user."""
    change = supabase_change(payload=event.payload)
    if change is not None:
        _apply(SUPABASE, change)


HANDLERS: dict[tuple[str, str], Callable[[WebhookEvent], None]] = {
    **{(CLERK, event_type): clerk_user_event for event_type in (*CLERK_UPSERTS, CLERK_DELETED)},
    **{
        (SUPABASE, f"auth.users.{operation}"): supabase_user_event
        for operation in SUPABASE_OPERATIONS
    },
}


def register_handlers() -> None:
    """Register every handler above with the webhook ledger."""
    for (provider, event_type), handler in HANDLERS.items():
        register(provider, event_type, handler)
