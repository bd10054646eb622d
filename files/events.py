"""Real-time events of files (API.md §9): `file.uploaded` and `file.deleted`, with the File as
the API renders it, on its owner's `user:<id>`, once the transaction commits."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from files.models import File
from realtime import publish
from realtime.channels import user_channel


def file_rendered(file: File) -> dict[str, Any]:
    """The File as the API renders it."""
    # files.serializers imports files.services, which imports this module.
    from files.serializers import FileOutput

    return dict(FileOutput(file).data)


def file_event_on_commit(event: str, file: File) -> None:
    """Publish `event` for `file` to its owner once the transaction commits.

    The file is rendered now (a deleted row cannot be read later); `robust`: whatever goes
    wrong while announcing it, the write it announces stands.
    """
    data = file_rendered(file)
    channel = user_channel(file.owner_id)
    transaction.on_commit(lambda: publish(channel=channel, event=event, data=data), robust=True)
