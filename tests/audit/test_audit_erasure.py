"""An erased person's events keep what happened and when, and lose who they were."""

from __future__ import annotations

import pytest

from accounts.models import User
from audit.models import AuditEvent
from audit.services import MASK, audit_record
from tests.audit.admin_forms import form_data
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BROWSER = {"HTTP_USER_AGENT": "Phone/2.0", "REMOTE_ADDR": "198.51.100.9"}


def test_deleting_my_account_scrubs_my_events_and_keeps_their_actions(
    api, client, staff, django_capture_on_commit_callbacks
):
    person = UserFactory(email="ada@example.com", full_name="Ada Lovelace")
    bystander = UserFactory(email="bob@example.com")
    # Staff renamed the person in the admin; someone tried their email at the admin's sign-in;
    # staff impersonated them; staff changed someone else.
    url = f"/admin/accounts/user/{person.pk}/change/"
    client.post(url, {**form_data(client.get(url)), "full_name": "Ada King"}, **BROWSER)
    audit_record(action="staff.sign_in_failed", target_type="email", target_id="ada@example.com")
    audit_record(
        action="impersonation.request",
        actor=person,
        actor_type="user",
        impersonator=staff,
        target_type="user",
        target_id=person.pk,
    )
    unrelated = audit_record(
        action="admin.change",
        actor=staff,
        actor_type="staff",
        target_type="user",
        target_id=bystander.pk,
        changes={"full_name": ("Bob", "Robert")},
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = api.as_user(person).delete("/api/v1/app/users/me", **BROWSER)

    assert response.status_code == 204
    person.refresh_from_db()
    assert person.erased_at is not None
    about = AuditEvent.objects.exclude(pk=unrelated.pk).exclude(action="user.erase")
    assert set(about.values_list("action", flat=True)) == {
        "admin.change",
        "staff.sign_in_failed",
        "impersonation.request",
        "user.deactivate",
    }
    pseudonyms = set(about.values_list("target_id", flat=True))
    assert len(pseudonyms) == 1 and pseudonyms.pop().startswith("erased-")
    for event in about:
        assert (event.ip, event.user_agent) == (None, "")
        assert all(values == [MASK, MASK] for values in event.changes.values())
        assert event.actor != person
    renamed = about.get(action="admin.change")
    assert renamed.changes == {"full_name": [MASK, MASK]}
    assert (renamed.actor, renamed.actor_label) == (staff, staff.email)  # staff stay named
    deactivated = about.get(action="user.deactivate")
    assert (deactivated.actor, deactivated.actor_type, deactivated.actor_label) == (
        None,
        "user",
        "erased user",
    )
    # Nothing in the log names the person any more; the erasure itself is recorded.
    dump = str(list(AuditEvent.objects.values()))
    assert "ada@example.com" not in dump and "Ada" not in dump
    (erase,) = AuditEvent.objects.filter(action="user.erase")
    assert (erase.target_type, erase.target_id, erase.actor_type) == ("user", person.pk, "system")
    # Others' events are untouched.
    unrelated.refresh_from_db()
    assert unrelated.target_id == bystander.pk
    assert unrelated.changes == {"full_name": ["Bob", "Robert"]}


def test_an_erased_staff_members_events_keep_the_action_without_naming_them(client, staff):
    former = UserFactory(is_staff=True, email="former.staff@example.com")
    customer = UserFactory()
    audit_record(
        action="impersonation.start",
        actor=former,
        actor_type="staff",
        target_type="user",
        target_id=customer.pk,
    )
    audit_record(
        action="impersonation.request",
        actor=customer,
        actor_type="user",
        impersonator=former,
        target_type="user",
        target_id=customer.pk,
    )

    response = client.post(f"/admin/accounts/user/{former.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302 and not User.objects.filter(pk=former.pk).exists()
    started = AuditEvent.objects.get(action="impersonation.start")
    assert (started.actor, started.actor_label, started.actor_type) == (
        None,
        "erased user",
        "staff",
    )
    assert started.target_id == customer.pk  # the customer's history keeps it
    request = AuditEvent.objects.get(action="impersonation.request")
    assert (request.impersonator, request.impersonator_label) == (None, "erased user")
    assert request.actor == customer
    # The admin's record of the deletion names neither the email nor the id.
    (deleted,) = AuditEvent.objects.filter(action="admin.delete")
    assert deleted.target_type == "accounts.user" and deleted.target_id.startswith("erased-")
    assert deleted.changes == {"object": [MASK, MASK]} and deleted.actor == staff
    assert "former.staff@example.com" not in str(list(AuditEvent.objects.values()))
