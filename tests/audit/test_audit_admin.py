"""The audit log in the admin: nobody edits it, staff filter it, search it and export it."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any, cast

import pytest
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from audit.services import audit_record
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/audit/auditevent/"
EXPORT = "/admin/audit/auditevent/export.csv"


def shown(response: Any) -> set[str]:
    assert response.status_code == 200
    return {event.action for event in response.context["cl"].result_list}


def csv_rows(response: Any) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


@pytest.fixture
def log(staff: User) -> dict[str, Any]:
    """Events by two staff members, a user, an impersonation, the system and a provider."""
    other_staff = cast(User, UserFactory(is_staff=True, email="ops@example.com"))
    customer = cast(User, UserFactory(email="customer@example.com"))
    old = audit_record(action="billing.reconcile")
    AuditEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=40))
    audit_record(
        action="admin.change",
        actor=staff,
        actor_type="staff",
        target_type="auth.group",
        target_id="1",
    )
    audit_record(
        action="admin.delete",
        actor=other_staff,
        actor_type="staff",
        target_type="auth.group",
        target_id="2",
    )
    audit_record(
        action="user.deactivate",
        actor=customer,
        actor_type="user",
        target_type="user",
        target_id=customer.pk,
    )
    audit_record(
        action="impersonation.request",
        actor=customer,
        actor_type="user",
        impersonator=other_staff,
        target_type="user",
        target_id=customer.pk,
    )
    audit_record(
        action="entitlement.grant",
        actor_type="provider",
        actor_label="stripe",
        target_type="user",
        target_id=customer.pk,
    )
    return {"staff": staff, "other_staff": other_staff, "customer": customer}


def test_nobody_adds_changes_or_deletes_an_event_not_even_a_superuser(client, staff):
    event = audit_record(action="entitlement.grant", target_type="user", target_id="u1")
    url = f"{CHANGELIST}{event.pk}/"
    assert staff.is_superuser

    adding = client.post(f"{CHANGELIST}add/", {"action": "forged", "actor_type": "system"})
    changing = client.post(f"{url}change/", {"action": "forged", "actor_type": "system"})
    deleting = client.post(f"{url}delete/", {"post": "yes"})
    bulk = client.post(
        CHANGELIST, {"action": "delete_selected", "_selected_action": [event.pk], "post": "yes"}
    )

    assert (adding.status_code, changing.status_code, deleting.status_code) == (403, 403, 403)
    assert AuditEvent.objects.filter(pk=event.pk, action="entitlement.grant").exists()
    assert bulk.status_code == 200 and AuditEvent.objects.filter(pk=event.pk).exists()
    page = client.get(CHANGELIST).content.decode()
    assert f'href="{CHANGELIST}add/"' not in page and 'name="action"' not in page


def test_the_list_filters_by_actor_type_action_target_date_actor_and_impersonator(client, log):
    staff, other_staff = log["staff"], log["other_staff"]

    assert shown(client.get(CHANGELIST, {"actor_type__exact": "provider"})) == {"entitlement.grant"}
    assert shown(client.get(CHANGELIST, {"action": "admin.delete"})) == {"admin.delete"}
    assert shown(client.get(CHANGELIST, {"target_type": "auth.group"})) == {
        "admin.change",
        "admin.delete",
    }
    assert shown(client.get(CHANGELIST, {"actor__id__exact": staff.pk})) == {"admin.change"}
    assert shown(client.get(CHANGELIST, {"actor__id__exact": other_staff.pk})) == {"admin.delete"}
    assert shown(client.get(CHANGELIST, {"impersonator__id__exact": other_staff.pk})) == {
        "impersonation.request"
    }
    since = (timezone.now() - timedelta(days=7)).isoformat()
    assert "billing.reconcile" not in shown(client.get(CHANGELIST, {"created_at__gte": since}))
    assert "billing.reconcile" in shown(client.get(CHANGELIST))
    # Searches: an actor's email, an action.
    assert shown(client.get(CHANGELIST, {"q": "ops@example"})) == {"admin.delete"}
    assert shown(client.get(CHANGELIST, {"q": "customer@example.com"})) == {
        "user.deactivate",
        "impersonation.request",
    }
    page = client.get(CHANGELIST).content.decode()
    assert f"?actor__id__exact={other_staff.pk.replace('|', '%7C')}" in page  # the staff filter
    assert "stripe" in page  # a provider's events name it


def test_a_targets_history_lists_its_events_under_both_names(client, log):
    customer = log["customer"]
    audit_record(
        action="admin.change",
        actor=log["staff"],
        actor_type="staff",
        target_type="accounts.user",
        target_id=customer.pk,
    )

    history = client.get(
        CHANGELIST, {"target_type__in": "accounts.user,user", "target_id": customer.pk}
    )

    assert shown(history) == {
        "admin.change",
        "user.deactivate",
        "impersonation.request",
        "entitlement.grant",
    }


def test_the_csv_export_streams_the_filtered_list_with_every_column(client, log):
    staff = log["staff"]

    response = client.get(EXPORT, {"actor_type__exact": "staff"})

    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-log-')
    rows = csv_rows(response)
    assert {row["action"] for row in rows} == {"admin.change", "admin.delete"}
    assert list(rows[0]) == [
        "id",
        "created_at",
        "action",
        "actor_type",
        "actor_id",
        "actor_label",
        "impersonator_id",
        "impersonator_label",
        "target_type",
        "target_id",
        "changes",
        "ip",
        "user_agent",
        "request_id",
    ]
    mine = next(row for row in rows if row["action"] == "admin.change")
    assert (mine["actor_id"], mine["actor_label"], mine["target_id"]) == (
        staff.pk,
        staff.email,
        "1",
    )
    # The export is recorded, with its filters.
    (exported,) = AuditEvent.objects.filter(action="audit.export")
    assert exported.actor == staff and exported.changes == {
        "filters": [None, "actor_type__exact=staff"]
    }


def test_the_export_follows_search_and_defuses_spreadsheet_formulas(client, staff):
    audit_record(action="staff.sign_in_failed", target_type="email", target_id='=HYPERLINK("x")')
    audit_record(
        action="staff.sign_in_failed", target_type="email", target_id="someone@example.com"
    )

    rows = csv_rows(client.get(EXPORT, {"q": '=HYPERLINK("x")'}))

    assert [row["target_id"] for row in rows] == ['\'=HYPERLINK("x")']


def test_the_changelist_links_the_export_with_its_filters(client, staff):
    page = client.get(CHANGELIST, {"action": "admin.change"}).content.decode()

    assert f'href="{EXPORT}?action=admin.change"' in page


def test_the_list_costs_the_same_queries_for_many_actors(
    client, staff, django_assert_max_num_queries
):
    def record(count: int) -> None:
        for n in range(count):
            actor = cast(User, UserFactory(is_staff=n % 2 == 0))
            audit_record(
                action=f"test.{n % 5}",
                actor=actor,
                actor_type="user",
                impersonator=staff,
                target_type="user",
                target_id=actor.pk,
            )
            AuditEvent.objects.filter(actor=actor).update(actor_label="", impersonator_label="")

    record(3)
    with django_assert_max_num_queries(9):
        assert client.get(CHANGELIST).status_code == 200
    record(40)
    with django_assert_max_num_queries(9):
        response = client.get(CHANGELIST)
    assert len(response.context["cl"].result_list) == 43
