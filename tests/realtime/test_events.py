"""Domain events reach the user's sockets (API.md §9): a change made through the API arrives,
once committed, as `{"type":"event","event","channel","data","timestamp"}` with the object as the
API renders it, on the object's channel and on the owner's; nobody else's sockets see it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async
from django.test import TestCase
from prometheus_client import REGISTRY

from projects.models import Project
from projects.services import projects_restore
from tests.factories import ProjectFactory
from tests.fakes import free_port
from tests.files.flow import CONTENT, FILES_URL, confirm, send_form, start_upload
from tests.processes import wait_for
from tests.realtime.conftest import Socket, connected, error_code, run, socket

PROJECTS = "/api/v1/app/projects"
FAILURES = "groundwork_realtime_publish_failures_total"


async def subscribed(sock: Socket, channel: str) -> None:
    await sock.send_frame({"type": "subscribe", "channel": channel})
    assert await sock.frame() == {"type": "subscribed", "channel": channel}


async def events(sock: Socket, count: int) -> list[dict[str, Any]]:
    """The next `count` frames, each checked to be an event with a UTC timestamp (then dropped
    from it, so the rest compares exactly)."""
    frames = [await sock.frame() for _ in range(count)]
    for frame in frames:
        assert frame["type"] == "event", frame
        assert frame.pop("timestamp").endswith("Z")
    return frames


async def nothing_more(*socks: Socket) -> None:
    for sock in socks:
        assert await sock.receive_nothing(timeout=0.2)


def event(name: str, channel: str, data: Any) -> dict[str, Any]:
    return {"type": "event", "event": name, "channel": channel, "data": data}


def on_both_channels(name: str, project_id: Any, owner_id: Any, data: Any) -> list[Any]:
    """The event on the project's channel and on its owner's, in either order."""
    return sorted(
        (event(name, channel, data) for channel in (f"project:{project_id}", f"user:{owner_id}")),
        key=lambda frame: frame["channel"],
    )


def by_channel(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(frames, key=lambda frame: frame["channel"])


async def committed(call: Callable[[], Any]) -> Any:
    """Run `call` on the test's thread, then its commit callbacks, as the end of a request's
    transaction would (the test's own transaction never commits)."""

    def body() -> Any:
        with TestCase.captureOnCommitCallbacks(execute=True):
            return call()

    return await sync_to_async(body)()


def test_a_project_update_reaches_the_project_and_owner_channels(api, user, other_user):
    project = ProjectFactory(owner=user)
    client = api.as_user(user)

    async def scenario() -> None:
        mine, theirs = socket(user=user), socket(user=other_user)
        await connected(mine)
        await connected(theirs)
        await subscribed(mine, f"project:{project.pk}")

        response = await committed(
            lambda: client.patch(f"{PROJECTS}/{project.pk}", {"name": "Renamed"}, format="json")
        )

        assert response.status_code == 200
        rendered = response.json()
        assert rendered["name"] == "Renamed"
        assert by_channel(await events(mine, 2)) == on_both_channels(
            "project.updated", project.pk, user.pk, rendered
        )
        await nothing_more(mine, theirs)
        await mine.disconnect()
        await theirs.disconnect()

    run(scenario)


def test_creating_and_deleting_a_project_are_announced(api, user):
    client = api.as_user(user)

    async def scenario() -> None:
        sock = socket(user=user)
        await connected(sock)

        created = await committed(lambda: client.post(PROJECTS, {"name": "Roadmap"}, format="json"))

        assert created.status_code == 201
        project = created.json()
        # A client learns of a new project on its user channel, then follows the project's.
        assert await events(sock, 1) == [event("project.created", f"user:{user.pk}", project)]
        await subscribed(sock, f"project:{project['id']}")
        deleted = await committed(lambda: client.delete(f"{PROJECTS}/{project['id']}"))
        assert deleted.status_code == 204
        # The Project as the API last rendered it: deleting hides it, changes none of its fields.
        after = await sync_to_async(Project.all_objects.get)(pk=project["id"])
        last = {**project, "updated_at": after.updated_at.isoformat().replace("+00:00", "Z")}
        assert by_channel(await events(sock, 2)) == on_both_channels(
            "project.deleted", project["id"], user.pk, last
        )
        await nothing_more(sock)
        await sock.disconnect()

    run(scenario)


def test_a_rolled_back_or_unchanged_project_announces_nothing(api, user):
    project = ProjectFactory(owner=user)
    client = api.as_user(user)

    async def scenario() -> None:
        sock = socket(user=user)
        await connected(sock)

        invalid = await committed(
            lambda: client.patch(f"{PROJECTS}/{project.pk}", {"name": ""}, format="json")
        )
        empty = await committed(lambda: client.patch(f"{PROJECTS}/{project.pk}", {}, format="json"))

        assert (invalid.status_code, empty.status_code) == (422, 200)
        await nothing_more(sock)
        await sock.disconnect()

    run(scenario)


def test_a_restored_project_appears_again(user):
    project = ProjectFactory(owner=user)
    project.soft_delete()

    async def scenario() -> None:
        sock = socket(user=user)
        await connected(sock)

        restored = await committed(
            lambda: projects_restore(projects=Project.all_objects.filter(pk=project.pk))
        )

        assert restored == 1
        [frame] = await events(sock, 1)
        assert (frame["event"], frame["channel"]) == ("project.created", f"user:{user.pk}")
        assert frame["data"]["id"] == str(project.pk)
        await nothing_more(sock)
        await sock.disconnect()

    run(scenario)


def test_only_the_owner_may_follow_a_live_project(user, other_user):
    mine, theirs = ProjectFactory(owner=user), ProjectFactory(owner=other_user)
    gone = ProjectFactory(owner=user)
    gone.soft_delete()

    async def scenario() -> None:
        sock = socket(user=user)
        await connected(sock)
        await subscribed(sock, f"project:{mine.pk}")
        for channel in (f"project:{theirs.pk}", f"project:{gone.pk}", "project:not-a-uuid"):
            await sock.send_frame({"type": "subscribe", "channel": channel, "id": channel})
            reply = await sock.frame()
            assert (error_code(reply), reply["id"]) == ("NOT_FOUND", channel)
        await sock.disconnect()

    run(scenario)


def test_another_users_project_changes_never_reach_me(api, user, other_user):
    theirs = ProjectFactory(owner=other_user)
    client = api.as_user(other_user)

    async def scenario() -> None:
        sock = socket(user=user)
        await connected(sock)

        response = await committed(
            lambda: client.patch(f"{PROJECTS}/{theirs.pk}", {"name": "Theirs"}, format="json")
        )

        assert response.status_code == 200
        await nothing_more(sock)
        await sock.disconnect()

    run(scenario)


def test_a_confirmed_upload_and_a_deleted_file_are_announced(
    api, user, other_user, settings, tmp_path: Path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    client = api.as_user(user)
    upload = start_upload(client)
    assert send_form(upload, CONTENT).status_code == 204

    async def scenario() -> None:
        mine, theirs = socket(user=user), socket(user=other_user)
        await connected(mine)
        await connected(theirs)

        confirmed = await committed(lambda: confirm(client, upload["file_id"]))

        assert confirmed.status_code == 200
        file = confirmed.json()
        assert file["status"] == "uploaded"
        assert await events(mine, 1) == [event("file.uploaded", f"user:{user.pk}", file)]
        # Confirming again changes nothing and announces nothing.
        assert (await committed(lambda: confirm(client, upload["file_id"]))).json() == file
        await nothing_more(mine)

        deleted = await committed(lambda: client.delete(f"{FILES_URL}/{file['id']}"))

        assert deleted.status_code == 204
        assert await events(mine, 1) == [event("file.deleted", f"user:{user.pk}", file)]
        await nothing_more(mine, theirs)
        await mine.disconnect()
        await theirs.disconnect()

    run(scenario)


def failures() -> float:
    return REGISTRY.get_sample_value(FAILURES) or 0.0


def test_a_channel_layer_that_is_down_never_fails_the_write(
    api, user, settings, django_capture_on_commit_callbacks
):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
        }
    }
    project = ProjectFactory(owner=user)
    before = failures()

    with django_capture_on_commit_callbacks(execute=True):
        response = api.as_user(user).patch(
            f"{PROJECTS}/{project.pk}", {"name": "Still saved"}, format="json"
        )

    assert response.status_code == 200
    assert response.json()["name"] == "Still saved"
    # Both events (the project's channel and the owner's) are counted as lost.
    wait_for(lambda: failures() >= before + 2, what="the lost events to be counted", timeout=10)
    project.refresh_from_db()
    assert project.name == "Still saved"
