"""POST /api/v1/public/webhooks/supabase: database webhooks on auth.users, with the bearer."""

from __future__ import annotations

import hashlib
import json

import pytest

from accounts.models import User
from tests.accounts.identity.conftest import (
    SUPABASE_SECRET,
    supabase_user,
    supabase_webhook,
)
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

ME = "/api/v1/app/users/me"


def accepted(response) -> str:
    assert response.status_code == 200, response.content
    return response.json()["status"]


def refused(response, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert WebhookEvent.objects.count() == 0
    assert User.objects.count() == 0


def test_insert_creates_the_user_and_the_api_shows_its_profile(send_supabase, api):
    row = supabase_user(email="Grace@Example.com")
    webhook = supabase_webhook("INSERT", row)

    assert accepted(send_supabase(webhook)) in ("queued", "processed")

    stored = WebhookEvent.objects.get()
    body = json.dumps(webhook).encode()
    assert (stored.provider, stored.event_id, stored.event_type, stored.status) == (
        "supabase",
        f"sha256:{hashlib.sha256(body).hexdigest()}",
        "auth.users.INSERT",
        WebhookEvent.Status.PROCESSED,
    )
    user = User.objects.get(pk=row["id"])
    profile = api.as_user(user).get(ME).json()
    assert (profile["email"], profile["full_name"], profile["avatar_url"], profile["role"]) == (
        "grace@example.com",
        "Grace Hopper",
        "https://cdn.example.com/grace.png",
        "user",
    )


def test_oauth_metadata_names_and_pictures_are_read_too(send_supabase):
    row = supabase_user(
        metadata={"name": "Grace B. Hopper", "picture": "https://lh3.example.com/g.jpg"}
    )

    send_supabase(supabase_webhook("INSERT", row))

    user = User.objects.get(pk=row["id"])
    assert (user.full_name, user.avatar_url) == ("Grace B. Hopper", "https://lh3.example.com/g.jpg")


@pytest.mark.parametrize("metadata", [{}, {"full_name": None, "name": "  "}, None])
def test_missing_metadata_leaves_name_and_avatar_null(send_supabase, api, metadata):
    row = supabase_user(metadata={})
    row["raw_user_meta_data"] = metadata

    send_supabase(supabase_webhook("INSERT", row))

    profile = api.as_user(User.objects.get(pk=row["id"])).get(ME).json()
    assert (profile["full_name"], profile["avatar_url"]) == (None, None)


def test_a_user_without_email_is_synced_with_an_empty_one(send_supabase):
    row = supabase_user(email=None)

    send_supabase(supabase_webhook("INSERT", row))

    assert User.objects.get(pk=row["id"]).email == ""


def test_update_changes_the_profile_and_the_next_request_sees_it(send_supabase, api):
    row = supabase_user()
    send_supabase(supabase_webhook("INSERT", row))
    client = api.as_user(User.objects.get(pk=row["id"]))
    assert client.get(ME).json()["full_name"] == "Grace Hopper"

    new = supabase_user(
        row["id"],
        email="admiral@example.com",
        metadata={"full_name": "Rear Admiral Hopper"},
        updated_at="2025-01-03T10:00:00.000000+00:00",
    )
    assert accepted(send_supabase(supabase_webhook("UPDATE", new, row))) in ("queued", "processed")

    profile = client.get(ME).json()
    assert (profile["email"], profile["full_name"], profile["avatar_url"]) == (
        "admiral@example.com",
        "Rear Admiral Hopper",
        None,
    )


def test_an_older_update_is_ignored(send_supabase):
    row = supabase_user(updated_at="2025-01-05T10:00:00+00:00")
    send_supabase(supabase_webhook("INSERT", row))
    older = supabase_user(
        row["id"], metadata={"full_name": "Stale"}, updated_at="2025-01-04T10:00:00+00:00"
    )

    send_supabase(supabase_webhook("UPDATE", older, row))

    assert User.objects.get(pk=row["id"]).full_name == "Grace Hopper"
    assert WebhookEvent.objects.filter(status="processed").count() == 2


def test_delete_deactivates_and_the_token_is_refused(send_supabase, api):
    row = supabase_user()
    send_supabase(supabase_webhook("INSERT", row))
    user = User.objects.get(pk=row["id"])

    assert accepted(send_supabase(supabase_webhook("DELETE", None, row))) in ("queued", "processed")

    assert api.as_user(user).get(ME).status_code == 403
    user.refresh_from_db()
    assert (user.is_active, user.email, user.full_name) == (False, "", None)
    assert user.erased_at is not None


def test_a_soft_deleted_row_deactivates(send_supabase, api):
    row = supabase_user()
    send_supabase(supabase_webhook("INSERT", row))
    deleted = supabase_user(
        row["id"],
        updated_at="2025-01-03T10:00:00+00:00",
        deleted_at="2025-01-03T10:00:00+00:00",
    )

    send_supabase(supabase_webhook("UPDATE", deleted, row))

    assert not User.objects.get(pk=row["id"]).is_active


def test_an_insert_delivered_after_the_delete_does_not_bring_the_user_back(send_supabase):
    row = supabase_user()
    send_supabase(supabase_webhook("DELETE", None, row))

    send_supabase(supabase_webhook("INSERT", row))

    assert not User.objects.filter(pk=row["id"]).exists()


def test_an_update_after_the_delete_does_not_resurrect_the_user(send_supabase):
    row = supabase_user()
    send_supabase(supabase_webhook("INSERT", row))
    send_supabase(supabase_webhook("DELETE", None, row))

    newer = supabase_user(row["id"], updated_at="2026-01-01T00:00:00+00:00")
    send_supabase(supabase_webhook("UPDATE", newer, row))

    user = User.objects.get(pk=row["id"])
    assert (user.is_active, user.email, user.full_name) == (False, "", None)


def test_an_identical_redelivery_is_a_duplicate(send_supabase):
    webhook = supabase_webhook("INSERT", supabase_user())
    send_supabase(webhook)

    assert accepted(send_supabase(webhook)) == "duplicate"

    assert WebhookEvent.objects.count() == 1
    assert User.objects.count() == 1


def test_other_tables_are_stored_and_ignored(send_supabase):
    webhook = supabase_webhook("INSERT", {"id": 1, "name": "x"}, schema="public", table="profiles")

    assert accepted(send_supabase(webhook)) in ("queued", "ignored")

    stored = WebhookEvent.objects.get()
    assert (stored.event_type, stored.status) == ("public.profiles.INSERT", "ignored")
    assert not User.objects.exists()


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer wrong-secret-of-some-length",
        f"Basic {SUPABASE_SECRET}",
        f"Bearer {SUPABASE_SECRET}x",
        f"{SUPABASE_SECRET}",
        "Bearer sécret-non-ascii-ééééééé",
    ],
)
def test_a_missing_or_wrong_bearer_is_refused_with_401(send_supabase, authorization):
    response = send_supabase(
        supabase_webhook("INSERT", supabase_user()), authorization=authorization
    )

    refused(response, 401, "AUTHENTICATION_ERROR")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_the_bearer_scheme_is_case_insensitive(send_supabase):
    response = send_supabase(
        supabase_webhook("INSERT", supabase_user()), authorization=f"bearer {SUPABASE_SECRET}"
    )

    assert accepted(response) != "duplicate"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        b'{"type": "TRUNCATE", "schema": "auth", "table": "users", "record": null}',
        b'{"type": "INSERT", "schema": "", "table": "users", "record": {"id": "a"}}',
        b'{"type": "INSERT", "schema": "auth", "table": "users", "record": null}',
        b'{"type": "INSERT", "schema": "auth", "table": "users", "record": {"id": 5}}',
        b'{"type": "INSERT", "schema": "auth", "table": "users", "record": []}',
        b'{"type": "DELETE", "schema": "auth", "table": "users", "record": null}',
        b'{"type": "UPDATE", "schema": "auth", "table": "users", "record": {"id": "a\\u0000"}}',
    ],
)
def test_a_body_that_is_not_a_usable_database_webhook_is_refused(send_supabase, body):
    refused(send_supabase(body=body), 400, "BAD_REQUEST")


def test_not_configured_answers_503(send_supabase, settings):
    settings.SUPABASE_WEBHOOK_SECRET = ""

    response = send_supabase(supabase_webhook("INSERT", supabase_user()))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert WebhookEvent.objects.count() == 0
