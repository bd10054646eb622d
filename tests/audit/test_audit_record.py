"""The audit log: services append events; nothing changes or removes them."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from audit.models import AuditEvent
from audit.services import audit_record
from config.observability import request_id_var

pytestmark = pytest.mark.django_db


def test_an_event_keeps_who_what_and_where_with_secrets_masked(user, staff):
    request = RequestFactory().post("/admin/", HTTP_USER_AGENT="Browser/1.0")
    token = request_id_var.set("req-123")
    try:
        event = audit_record(
            action="user.update",
            actor=staff,
            actor_type=AuditEvent.ActorType.STAFF,
            target_type="user",
            target_id=user.pk,
            changes={"role": ("user", "admin"), "password": ("old-hash", "new-hash")},
            request=request,
        )
    finally:
        request_id_var.reset(token)

    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.action, stored.actor, stored.actor_type) == ("user.update", staff, "staff")
    assert (stored.target_type, stored.target_id) == ("user", user.pk)
    assert stored.changes == {"role": ["user", "admin"], "password": ["********", "********"]}
    assert (stored.ip, stored.user_agent, stored.request_id) == (
        "127.0.0.1",
        "Browser/1.0",
        "req-123",
    )


def test_events_are_append_only():
    event = audit_record(action="billing.reconcile")

    event.action = "something else"
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).action == "billing.reconcile"


def test_staff_read_the_log_but_cannot_change_it(client, staff):
    event = audit_record(action="entitlement.grant", target_type="entitlement", target_id="42")

    listing = client.get("/admin/audit/auditevent/")
    detail = client.get(f"/admin/audit/auditevent/{event.pk}/change/")
    deleting = client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"})

    assert listing.status_code == 200 and b"entitlement.grant" in listing.content
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert deleting.status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_secret_looking_fields_are_masked_whatever_their_spelling():
    secret = ("password", "password1", "api_key", "client_secret", "webhooksecret", "access_token")
    plain = ("tokens_in", "keyboard_layout", "full_name", "monkey")
    changes = {name: ("before", "after") for name in (*secret, *plain, "key", "password_hash")}

    stored = audit_record(action="test.mask", changes=changes).changes

    assert {name for name, values in stored.items() if values == ["********"] * 2} == {
        *secret,
        "key",
        "password_hash",
    }
