"""What the product tells a signed-in user's clients in real time (API.md §9), on their
`user:<id>` channel, once the transaction commits:

- `notification` (`{title, body}`): a message to show in the app (`notification_send`);
- `export.ready` (`{id, download_url}`): their data export can be downloaded.

Here rather than in `notifications` (the email outbox): infrastructure apps are independent of
each other, and accounts sits above both it and `realtime`.
"""

from __future__ import annotations

from django.db import transaction

from realtime import publish
from realtime.channels import user_channel

TITLE_MAX_LENGTH = 120
BODY_MAX_LENGTH = 1000


def notification_send(*, user_id: str, title: str, body: str) -> None:
    """Show the user an in-app notification on every client they have open.

    Sent once the current transaction commits (at once outside of one), never failing it; a
    client that is not connected does not get it (it is not stored).
    """
    data = {"title": title[:TITLE_MAX_LENGTH], "body": body[:BODY_MAX_LENGTH]}
    channel = user_channel(user_id)
    transaction.on_commit(
        lambda: publish(channel=channel, event="notification", data=data), robust=True
    )


def export_ready_send(*, user_id: str, export_id: str, download_url: str) -> None:
    """Tell the user's clients their data export `export_id` is ready at `download_url` (its
    export link, valid EXPORT_LINK_DAYS), with an `export.ready` event and a notification, once
    committed."""
    data = {"id": export_id, "download_url": download_url}
    channel = user_channel(user_id)
    transaction.on_commit(
        lambda: publish(channel=channel, event="export.ready", data=data), robust=True
    )
    notification_send(
        user_id=user_id,
        title="Your data export is ready",
        body="A copy of your data is in your files, ready to download.",
    )
