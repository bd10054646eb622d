"""`export.ready` and `notification` (API.md §9): a data export that becomes ready, and what
staff send from the users list, reach the user's open clients; nobody else's."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from audit.models import AuditEvent
from tests.accounts.export.test_export import LINK
from tests.factories import UserFactory
from tests.realtime.conftest import connected, run, socket
from tests.realtime.test_events import committed, event, events, nothing_more

EXPORT = "/api/v1/app/users/me/export"
USERS = "/admin/accounts/user/"


def by_event(frames: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {frame["event"]: frame for frame in frames}


def test_a_ready_export_is_announced_with_its_download_link(
    api, client, user, other_user, settings, tmp_path: Path, mailoutbox
):
    settings.MEDIA_ROOT = tmp_path / "media"

    async def scenario() -> str:
        mine, theirs = socket(user=user), socket(user=other_user)
        await connected(mine)
        await connected(theirs)

        response = await committed(lambda: api.as_user(user).post(EXPORT))

        assert response.status_code == 202
        received = by_event(await events(mine, 2))
        ready = received["export.ready"]
        assert ready == event("export.ready", f"user:{user.pk}", ready["data"])
        assert ready["data"]["id"] == response.json()["id"]
        # The link the email carries, and it downloads this user's export.
        [email] = [message for message in mailoutbox if message.to == [user.email]]
        assert LINK.findall(email.body) == [ready["data"]["download_url"]]
        assert received["notification"] == event(
            "notification",
            f"user:{user.pk}",
            {
                "title": "Your data export is ready",
                "body": "A copy of your data is in your files, ready to download.",
            },
        )
        await nothing_more(mine, theirs)
        await mine.disconnect()
        await theirs.disconnect()
        return str(ready["data"]["download_url"])

    link = urlsplit(run(scenario))
    downloaded = client.get(f"{link.path}?{link.query}", follow=True)
    assert downloaded.status_code == 200
    assert str(user.pk) in b"".join(downloaded.streaming_content).decode()


def hidden_fields(page: Any) -> dict[str, list[str]]:
    """The hidden inputs of an admin page's form, as a browser posts them back."""
    fields: dict[str, list[str]] = {}

    class Inputs(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found = dict(attrs)
            if tag == "input" and found.get("type") == "hidden" and found.get("name"):
                fields.setdefault(str(found["name"]), []).append(found.get("value") or "")

    Inputs().feed(page.content.decode())
    fields.pop("csrfmiddlewaretoken", None)
    return fields


def test_staff_send_an_in_app_notification_from_the_users_list(client, staff, user, other_user):
    bystander = UserFactory()
    # As the users list posts it: the action and the ticked rows.
    ticked = {
        "action": "send_notification",
        "index": "0",
        "_selected_action": [user.pk, other_user.pk],
    }
    message = {"title": "Maintenance tonight", "body": "The app is read-only from 22:00 UTC."}

    async def scenario() -> None:
        socks = {who.pk: socket(user=who) for who in (user, other_user, bystander)}
        for sock in socks.values():
            await connected(sock)

        form = await committed(lambda: client.post(USERS, ticked))
        # The intermediate page asks for the title and body; a blank one is asked again.
        assert form.status_code == 200 and b'name="title"' in form.content
        again = hidden_fields(form)
        blank = await committed(lambda: client.post(USERS, again))
        assert blank.status_code == 200 and b"This field is required" in blank.content
        await nothing_more(*socks.values())

        sent = await committed(lambda: client.post(USERS, {**again, **message}))

        assert sent.status_code == 302
        for who in (user, other_user):
            assert await events(socks[who.pk], 1) == [
                event("notification", f"user:{who.pk}", message)
            ]
        await nothing_more(*socks.values())
        for sock in socks.values():
            await sock.disconnect()

    run(scenario)

    ran = AuditEvent.objects.filter(action="admin.action", target_type="accounts.user")
    assert sorted(ran.values_list("target_id", flat=True)) == sorted([user.pk, other_user.pk])
    assert all(
        (audit.actor, audit.changes) == (staff, {"action": [None, "send_notification"]})
        for audit in ran
    )


def test_a_notification_to_every_user_of_the_list(client, staff, user, other_user):
    # "Select all" across the list's pages: the ticked row stands for the whole (filtered) list.
    everyone = {
        "action": "send_notification",
        "index": "0",
        "select_across": "1",
        "_selected_action": [user.pk],
    }
    message = {"title": "Welcome", "body": "Hello everyone."}

    async def scenario() -> None:
        socks = [socket(user=who) for who in (user, other_user, staff)]
        for sock in socks:
            await connected(sock)

        form = await committed(lambda: client.post(USERS, everyone))
        assert b"To 3 users" in form.content
        sent = await committed(lambda: client.post(USERS, {**hidden_fields(form), **message}))

        assert sent.status_code == 302
        for sock in socks:
            [frame] = await events(sock, 1)
            assert (frame["event"], frame["data"]) == ("notification", message)
        for sock in socks:
            await sock.disconnect()

    run(scenario)
