"""What the webhook ledger keeps of identity events: no secrets, and nothing of an erased person.

Supabase's `auth.users` rows carry the password hash, recovery, confirmation and email-change
tokens and the phone number; Clerk's users their phone numbers, external accounts, private
metadata and the client's IP. The ledger keeps only what the handlers read, empties the raw body
once an event is processed, the admin never shows either, and an erased user's events keep no
email, name or avatar, however the erasure came (the provider's deletion, DELETE /users/me, a
late delivery after it). Handlers and staff replays still work from what is kept.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from accounts.models import User
from tests.accounts.identity.conftest import (
    SUPABASE_SECRET,
    clerk_deleted,
    clerk_event,
    clerk_user,
    supabase_user,
    supabase_webhook,
)
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

ME = "/api/v1/app/users/me"
CHANGELIST = "/admin/webhooks/webhookevent/"

PASSWORD_HASH = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
SECRETS = {
    "encrypted_password": PASSWORD_HASH,
    "recovery_token": "recovery-token-5f0c2b1e9d",
    "confirmation_token": "confirmation-token-7a3e4d",
    "email_change_token_new": "email-change-token-81c2",
    "email_change_token_current": "email-change-token-19fe",
    "reauthentication_token": "reauth-token-3344",
    "phone": "+14155550123",
    "phone_change_token": "phone-change-token-7777",
}
CLERK_PRIVATE = {
    "phone_numbers": [{"id": "idn_phone", "phone_number": "+14155550199"}],
    "private_metadata": {"stripe_note": "private-metadata-value-42"},
    "external_accounts": [{"provider": "oauth_google", "email_address": "ada.external@gmail.com"}],
    "password_enabled": True,
    "totp_enabled": False,
}


def supabase_row(user_id: str = "9b2f3c4e-0000-4000-8000-000000000001", **fields: Any) -> dict:
    """An auth.users row as Supabase sends it, secrets included."""
    row = supabase_user(user_id, email="grace@example.com") | SECRETS
    row["raw_app_meta_data"] = {"provider": "email", "providers": ["email"]}
    row["email_confirmed_at"] = "2025-01-01T09:05:00.000000+00:00"
    return row | fields


def everything_stored() -> str:
    """Every stored event's payload and raw body, as text."""
    rows = WebhookEvent.objects.values_list("payload", "raw_body")
    return "\n".join(json.dumps(payload) + raw for payload, raw in rows)


def test_supabase_secrets_are_never_stored_and_the_user_is_still_synced(send_supabase, api):
    row = supabase_row()

    assert send_supabase(supabase_webhook("INSERT", row)).status_code == 200

    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.PROCESSED
    stored = everything_stored()
    for name, value in SECRETS.items():
        assert value not in stored, name
        assert name not in event.payload["record"]
    assert "raw_app_meta_data" not in event.payload["record"]
    assert event.raw_body == ""
    assert event.subject == row["id"]
    # What the handler needs is kept, and it worked from it.
    assert event.payload["record"]["email"] == "grace@example.com"
    assert event.payload["record"]["raw_user_meta_data"]["full_name"] == "Grace Hopper"
    user = User.objects.get(pk=row["id"])
    me = api.as_user(user).get(ME).json()
    assert (me["email"], me["full_name"]) == ("grace@example.com", "Grace Hopper")


def test_clerk_private_fields_are_never_stored(send_clerk):
    data = clerk_user() | CLERK_PRIVATE

    assert send_clerk(clerk_event("user.created", data)).status_code == 200

    event = WebhookEvent.objects.get()
    stored = everything_stored()
    for value in ("+14155550199", "private-metadata-value-42", "ada.external@gmail.com"):
        assert value not in stored
    assert "192.0.2.1" not in stored  # the client IP of Clerk's event_attributes
    assert set(event.payload["data"]) <= {
        "id",
        "object",
        "deleted",
        "created_at",
        "updated_at",
        "primary_email_address_id",
        "first_name",
        "last_name",
        "image_url",
        "email_addresses",
    }
    assert event.payload["data"]["email_addresses"][0]["email_address"] == "Ada@Example.com"
    assert event.subject == "user_2ada"
    assert User.objects.get(pk="user_2ada").email == "ada@example.com"


def test_the_raw_body_is_kept_only_until_processing_is_over(
    client, django_capture_on_commit_callbacks
):
    body = json.dumps(supabase_webhook("INSERT", supabase_row())).encode()
    headers = {"Authorization": f"Bearer {SUPABASE_SECRET}"}
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/api/v1/public/webhooks/supabase",
            data=body,
            content_type="application/json",
            headers=headers,
        )
    assert response.json() == {"status": "queued"}
    assert WebhookEvent.objects.get().raw_body == body.decode()  # waiting for its worker

    for callback in callbacks:
        callback()

    event = WebhookEvent.objects.get()
    assert event.status == WebhookEvent.Status.PROCESSED
    assert event.raw_body == ""


def test_the_admin_shows_no_secret_even_before_processing(
    client, staff, django_capture_on_commit_callbacks
):
    body = json.dumps(supabase_webhook("INSERT", supabase_row())).encode()
    with django_capture_on_commit_callbacks(execute=False):
        client.post(
            "/api/v1/public/webhooks/supabase",
            data=body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {SUPABASE_SECRET}"},
        )
    event = WebhookEvent.objects.get()
    assert event.raw_body  # still held: processing has not run

    page = client.get(f"{CHANGELIST}{event.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    for name, value in SECRETS.items():
        assert value not in html, name
    assert "kept until processing is over (not shown)" in html


def test_the_providers_deletion_scrubs_the_users_events(send_clerk):
    send_clerk(clerk_event("user.created", clerk_user()))
    send_clerk(clerk_event("user.updated", clerk_user(first_name="Augusta")))

    send_clerk(clerk_deleted())

    events = WebhookEvent.objects.filter(subject="user_2ada")
    assert events.count() == 3
    stored = everything_stored()
    for personal in ("Ada@Example.com", "Ada", "Augusta", "Lovelace", "img.clerk.com"):
        assert personal not in stored, personal
    for event in events:
        assert event.raw_body == ""
        assert event.payload["data"]["id"] == "user_2ada"  # ids stay: replays stay idempotent


def test_deleting_the_account_scrubs_the_users_events(
    send_supabase, api, django_capture_on_commit_callbacks
):
    row = supabase_row()
    send_supabase(supabase_webhook("INSERT", row))
    user = User.objects.get(pk=row["id"])

    with django_capture_on_commit_callbacks(execute=True):
        assert api.as_user(user).delete(ME).status_code == 204

    user.refresh_from_db()
    assert user.erased_at is not None
    event = WebhookEvent.objects.get()
    assert "grace@example.com" not in everything_stored()
    assert "Grace Hopper" not in everything_stored()
    assert event.payload["record"]["id"] == row["id"]


def test_a_delivery_after_the_erasure_keeps_nothing_personal(send_clerk):
    send_clerk(clerk_event("user.created", clerk_user()))
    send_clerk(clerk_deleted())

    # A late update of the deleted user (Svix retries), and a creation of a never-seen deleted one.
    send_clerk(clerk_event("user.updated", clerk_user(first_name="Late", emails=("late@x.io",))))
    send_clerk(clerk_deleted("user_other"))
    send_clerk(clerk_event("user.created", clerk_user("user_other", emails=("other@x.io",))))

    stored = everything_stored()
    assert "late@x.io" not in stored and "Late" not in stored
    assert "other@x.io" not in stored
    assert not User.objects.filter(pk="user_other").exists()


def test_other_users_events_are_left_alone(send_clerk):
    send_clerk(clerk_event("user.created", clerk_user("user_keep", emails=("keep@x.io",))))
    send_clerk(clerk_event("user.created", clerk_user()))

    send_clerk(clerk_deleted())

    kept = WebhookEvent.objects.get(subject="user_keep")
    assert kept.payload["data"]["email_addresses"][0]["email_address"] == "keep@x.io"


def test_staff_replay_runs_from_what_is_kept(
    client, staff, send_supabase, django_capture_on_commit_callbacks
):
    row = supabase_row()
    send_supabase(supabase_webhook("INSERT", row))
    User.objects.filter(pk=row["id"]).update(full_name="Changed meanwhile")
    event = WebhookEvent.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            CHANGELIST, {"action": "process_again", "_selected_action": [event.pk]}, follow=True
        )

    assert response.status_code == 200
    event.refresh_from_db()
    assert (event.status, event.attempts) == (WebhookEvent.Status.PROCESSED, 2)
    assert User.objects.get(pk=row["id"]).full_name == "Grace Hopper"
