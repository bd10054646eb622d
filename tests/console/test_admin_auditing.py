"""Every write made through the admin is in the audit log: adds, changes (before and after,
secrets masked), deletes one by one or in bulk, inline rows and actions, by the staff member
signed in, from their address; and every change page links to its object's history."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group
from django_celery_results.models import TaskResult

from accounts.models import User
from audit.models import AuditEvent
from billing.models import Entitlement
from tests.audit.admin_forms import form_data
from tests.factories import UserFactory
from tests.jobs.test_results_admin import stored_failure
from tests.webhooks.test_webhooks_admin import make_event
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db

USERS = "/admin/accounts/user/"
GROUPS = "/admin/auth/group/"
MASK = "********"
BROWSER = {"HTTP_USER_AGENT": "StaffBrowser/1.0", "REMOTE_ADDR": "203.0.113.7"}


def events(action: str, **filters: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action, **filters).order_by("id"))


def test_a_change_records_each_changed_field_before_and_after(client, staff):
    user = UserFactory(full_name="Ada Lovelace", role="user")
    url = f"{USERS}{user.pk}/change/"
    data = {**form_data(client.get(url)), "full_name": "Ada King", "role": "admin"}

    response = client.post(url, data, **BROWSER)

    assert response.status_code == 302, response.context and response.context["errors"]
    (event,) = events("admin.change", target_type="accounts.user", target_id=user.pk)
    assert event.changes == {"full_name": ["Ada Lovelace", "Ada King"], "role": ["user", "admin"]}
    assert (event.actor, event.actor_type, event.actor_label) == (staff, "staff", staff.email)
    assert (event.ip, event.user_agent) == ("203.0.113.7", "StaffBrowser/1.0")
    # The richer access event of the user page is kept beside it.
    (access,) = events("user.access_change", target_id=user.pk)
    assert access.changes == {"role": ["user", "admin"]}


def test_a_password_set_in_the_admin_is_recorded_masked(client, staff):
    user = UserFactory(is_staff=True)
    old_hash = user.password

    response = client.post(
        f"{USERS}{user.pk}/password/",
        {"password1": "a-new-long-password-9", "password2": "a-new-long-password-9"},
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.password != old_hash
    (event,) = events("admin.change", target_type="accounts.user", target_id=user.pk)
    assert event.changes == {"password": [MASK, MASK]}
    assert old_hash not in str(event.changes) and user.password not in str(event.changes)


def test_an_add_records_the_new_values_with_passwords_masked(client, staff):
    response = client.post(
        f"{USERS}add/",
        {
            "email": "new.staff@example.com",
            "password1": "a-new-long-password-9",
            "password2": "a-new-long-password-9",
        },
    )

    assert response.status_code == 302
    created = User.objects.get(email="new.staff@example.com")
    (event,) = events("admin.add", target_type="accounts.user", target_id=created.pk)
    assert event.changes["email"] == [None, "new.staff@example.com"]
    assert event.changes["password1"] == event.changes["password2"] == [MASK, MASK]
    assert "a-new-long-password-9" not in str(event.changes)


def test_many_to_many_changes_are_recorded_as_ids(client, staff):
    support, billing = Group.objects.create(name="Support"), Group.objects.create(name="Billing")
    user = UserFactory(is_staff=True)
    user.groups.add(support)
    url = f"{USERS}{user.pk}/change/"

    client.post(url, {**form_data(client.get(url)), "groups": [str(billing.pk)]})

    (event,) = events("admin.change", target_type="accounts.user", target_id=user.pk)
    assert event.changes == {"groups": [[support.pk], [billing.pk]]}


def test_deleting_one_object_records_it(client, staff):
    group = Group.objects.create(name="Interns")

    response = client.post(f"{GROUPS}{group.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302 and not Group.objects.filter(pk=group.pk).exists()
    (event,) = events("admin.delete", target_type="auth.group")
    assert (event.target_id, event.changes) == (str(group.pk), {"object": ["Interns", None]})


def test_bulk_delete_records_each_object_and_no_action(client, staff):
    groups = [Group.objects.create(name=f"Team {n}") for n in range(3)]
    selected = [str(group.pk) for group in groups]

    confirm = client.post(GROUPS, {"action": "delete_selected", "_selected_action": selected})
    assert confirm.status_code == 200 and not events("admin.delete")  # the confirmation page
    done = client.post(
        GROUPS, {"action": "delete_selected", "_selected_action": selected, "post": "yes"}
    )

    assert done.status_code == 302 and not Group.objects.exists()
    deleted = events("admin.delete", target_type="auth.group")
    assert sorted(event.target_id for event in deleted) == sorted(selected)
    assert {event.actor for event in deleted} == {staff}
    assert not events("admin.action")


def test_an_action_records_its_name_for_each_selected_object(client, staff):
    users = [UserFactory(), UserFactory()]

    response = client.post(
        USERS,
        {"action": "deactivate_users", "_selected_action": [user.pk for user in users]},
        **BROWSER,
    )

    assert response.status_code == 302
    ran = events("admin.action", target_type="accounts.user")
    assert sorted(event.target_id for event in ran) == sorted(user.pk for user in users)
    assert all(event.changes == {"action": [None, "deactivate_users"]} for event in ran)
    assert all((e.actor, e.ip) == (staff, "203.0.113.7") for e in ran)
    # The service records the domain event, as the staff member, from the same request.
    deactivated = events("user.deactivate", target_type="user")
    assert sorted(event.target_id for event in deactivated) == sorted(u.pk for u in users)
    assert all(e.changes == {"is_active": [True, False]} for e in deactivated)
    assert all(
        (e.actor, e.actor_type, e.ip) == (staff, "staff", "203.0.113.7") for e in deactivated
    )


def test_an_inline_grant_records_the_new_row_and_the_grant(client, staff):
    user = UserFactory()
    url = f"{USERS}{user.pk}/change/"
    page = client.get(url)
    prefix = page.context["inline_admin_formsets"][-1].formset.prefix
    data = {
        **form_data(page),
        f"{prefix}-TOTAL_FORMS": "1",
        f"{prefix}-0-plan": "pro",
        f"{prefix}-0-status": "active",
        f"{prefix}-0-current_period_end_0": "",
        f"{prefix}-0-current_period_end_1": "",
        f"{prefix}-0-note": "goodwill",
    }

    response = client.post(url, data)

    assert response.status_code == 302, response.context and response.context["errors"]
    granted = Entitlement.objects.get(user=user)
    (added,) = events("admin.add", target_type="billing.entitlement")
    assert added.target_id == str(granted.pk)
    assert added.changes["plan"] == [None, "pro"] and added.changes["note"] == [None, "goodwill"]
    (grant,) = events("entitlement.grant", target_id=user.pk)
    assert (grant.actor, grant.actor_type) == (staff, "staff")
    assert grant.changes["plan"] == [None, "pro"]


def test_an_inline_change_and_delete_are_recorded(client, staff):
    user = UserFactory()
    kept = Entitlement.objects.create(
        user=user, source="manual", external_id="manual_a", plan="pro", status="active"
    )
    dropped = Entitlement.objects.create(
        user=user, source="manual", external_id="manual_b", plan="pro", status="canceled"
    )
    url = f"{USERS}{user.pk}/change/"
    page = client.get(url)
    formset = page.context["inline_admin_formsets"][-1].formset
    index = {form.instance.pk: n for n, form in enumerate(formset.forms)}
    data = {
        **form_data(page),
        f"{formset.prefix}-{index[kept.pk]}-plan": "enterprise",
        f"{formset.prefix}-{index[dropped.pk]}-DELETE": "on",
    }

    response = client.post(url, data)

    assert response.status_code == 302, response.context and response.context["errors"]
    (changed,) = events("admin.change", target_type="billing.entitlement")
    assert (changed.target_id, changed.changes) == (str(kept.pk), {"plan": ["pro", "enterprise"]})
    (deleted,) = events("admin.delete", target_type="billing.entitlement")
    assert (deleted.target_id, deleted.changes) == (
        str(dropped.pk),
        {"object": [str(dropped), None]},
    )


def test_webhook_replays_and_task_reruns_are_recorded_as_such(client, staff):
    event = make_event("evt_failed", status=WebhookEvent.Status.FAILED)
    task_id = stored_failure("audit.tasks.delete_old_audit_events", [], {})
    result_pk = TaskResult.objects.get(task_id=task_id).pk

    replay = client.post(
        "/admin/webhooks/webhookevent/",
        {"action": "process_again", "_selected_action": [event.pk]},
    )
    rerun = client.post(
        "/admin/django_celery_results/taskresult/",
        {"action": "run_again", "_selected_action": [result_pk]},
    )

    assert replay.status_code == rerun.status_code == 302
    (replayed,) = events("webhook.replay")
    assert (replayed.target_type, replayed.target_id) == ("webhooks.webhookevent", str(event.pk))
    assert replayed.changes == {"action": [None, "process_again"]} and replayed.actor == staff
    (rerun_event,) = events("task.rerun")
    assert rerun_event.target_type == "django_celery_results.taskresult"
    assert rerun_event.target_id == str(result_pk)
    assert not events("admin.action")


def test_a_change_page_links_to_the_objects_history(client, staff):
    user, other = UserFactory(), UserFactory()
    url = f"{USERS}{user.pk}/change/"
    client.post(url, {**form_data(client.get(url)), "full_name": "Renamed"})
    other_url = f"{USERS}{other.pk}/change/"
    client.post(other_url, {**form_data(client.get(other_url)), "full_name": "Also renamed"})
    client.post(USERS, {"action": "deactivate_users", "_selected_action": [user.pk]})

    page = client.get(url)
    link = page.context["audit_history_url"]
    history = client.get(link)

    assert f'href="{link.replace("&", "&amp;")}"' in page.content.decode()
    assert "History (audit log)" in page.content.decode()
    assert history.status_code == 200
    shown = history.context["cl"].result_list
    assert {(e.action, e.target_id) for e in shown} == {
        ("admin.change", user.pk),
        ("admin.action", user.pk),
        ("user.deactivate", user.pk),
    }
    assert f"History of accounts.user / user {user.pk}" in history.content.decode()


def test_every_admin_gets_the_link_and_the_audit_log_itself_none(client, staff):
    group = Group.objects.create(name="Support")
    event = AuditEvent.objects.create(action="x.y", actor_type="system")

    group_page = client.get(f"{GROUPS}{group.pk}/change/")
    event_page = client.get(f"/admin/audit/auditevent/{event.pk}/change/")

    assert "History (audit log)" in group_page.content.decode()
    assert "History (audit log)" not in event_page.content.decode()
