"""Task results in the admin: failed tasks are listed with their error and can be run again."""

from __future__ import annotations

import json
import uuid

import pytest
from celery.app.task import Context
from django.contrib.auth.models import Permission
from django.test import Client
from django_celery_results.models import TaskResult

from accounts.models import User
from config.celery import app as celery_app
from tests.files.flow import stored_files

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/django_celery_results/taskresult/"


def stored_failure(name: str, args: list, kwargs: dict, *, argsrepr: str | None = None) -> str:
    """A failed run of `name` recorded by the result backend as a worker records it; its id."""
    task_id = str(uuid.uuid4())
    request = Context(
        id=task_id,
        task=name,
        args=args,
        kwargs=kwargs,
        argsrepr=json.dumps(args) if argsrepr is None else argsrepr,
        kwargsrepr=json.dumps(kwargs),
        hostname="celery@worker-1",
        delivery_info={"routing_key": "celery"},
    )
    celery_app.backend.mark_as_failure(
        task_id,
        RuntimeError("storage unavailable"),
        traceback="Traceback: storage unavailable",
        request=request,
    )
    return task_id


def run_again(client: Client, *task_ids: str):
    pks = list(TaskResult.objects.filter(task_id__in=task_ids).values_list("pk", flat=True))
    return client.post(CHANGELIST, {"action": "run_again", "_selected_action": pks}, follow=True)


def test_failed_tasks_are_listed_with_their_error(staff, client):
    task_id = stored_failure("files.tasks.delete_stored_objects", [["uploads/a"]], {})

    listing = client.get(f"{CHANGELIST}?status__exact=FAILURE")
    detail = client.get(f"{CHANGELIST}{TaskResult.objects.get(task_id=task_id).pk}/change/")

    assert task_id in listing.content.decode()
    assert 'value="run_again"' in listing.content.decode()
    page = detail.content.decode()
    assert "files.tasks.delete_stored_objects" in page
    assert "Traceback: storage unavailable" in page
    assert "uploads/a" in page


def test_run_again_sends_the_task_with_its_stored_arguments(staff, client, media_root):
    keys = [f"uploads/test/{number}" for number in range(3)]
    for key in keys:
        path = media_root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"left behind")
    task_id = stored_failure("files.tasks.delete_stored_objects", [keys[:2]], {})

    response = run_again(client, task_id)

    assert "1 task(s) sent again" in response.content.decode()
    # Run eagerly here (no worker in this test): the two keys it was given are gone.
    assert [path.name for path in stored_files(media_root)] == ["2"]
    assert TaskResult.objects.get(task_id=task_id).status == "FAILURE"  # its record stays


def test_arguments_in_older_repr_form_are_read_too(staff, client, media_root):
    path = media_root / "uploads/test/old"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    task_id = stored_failure(
        "files.tasks.delete_stored_objects",
        [["uploads/test/old"]],
        {},
        argsrepr="(['uploads/test/old'],)",
    )

    assert "1 task(s) sent again" in run_again(client, task_id).content.decode()
    assert not path.exists()


def test_what_cannot_be_run_again_is_skipped_with_the_reason(staff, client):
    shortened = stored_failure(
        "files.tasks.delete_stored_objects", [["k"] * 500], {}, argsrepr="(['k', 'k', ...)"
    )
    unknown = stored_failure("nowhere.tasks.vanished", [], {})
    succeeded = str(uuid.uuid4())
    celery_app.backend.mark_as_done(
        succeeded, 3, request=Context(id=succeeded, task="webhooks.tasks.purge_old_webhook_events")
    )

    page = run_again(client, shortened, unknown, succeeded).content.decode()

    assert "sent again" not in page
    assert f"Task {shortened} was not sent: its arguments were not stored in full." in page
    assert (
        f"Task {unknown} was not sent: &#x27;nowhere.tasks.vanished&#x27; is not a known task."
        in page
    )
    assert f"Task {succeeded} was not sent: status is SUCCESS, not FAILURE." in page


def test_running_again_takes_the_right_to_change_task_results(client):
    viewer = User.objects.create_user(
        "viewer@example.com", "a-long-staff-password-1", is_staff=True
    )
    viewer.user_permissions.add(Permission.objects.get(codename="view_taskresult"))
    client.force_login(viewer)
    stored_failure("webhooks.tasks.purge_old_webhook_events", [], {})

    listing = client.get(CHANGELIST)

    assert listing.status_code == 200
    assert 'value="run_again"' not in listing.content.decode()
