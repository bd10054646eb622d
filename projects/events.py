"""Real-time events of projects (API.md §9): `project.created|updated|deleted`.

Each carries the Project as the API renders it, on the project's own channel (`project:<id>`,
which sockets subscribe to) and on its owner's `user:<id>`. Services hand them to
`transaction.on_commit`, so an event never announces a change that was rolled back.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction

from projects.models import Project
from projects.serializers import ProjectOutput
from realtime import publish
from realtime.channels import user_channel

CHANNEL_KIND = "project"


def project_channel(project_id: object) -> str:
    """The channel of one project's events."""
    return f"{CHANNEL_KIND}:{project_id}"


def publish_project_event(event: str, project: Project) -> None:
    """Send `event` with the project as the API renders it to its channel and its owner's."""
    _publish(event, project_id=project.pk, owner_id=project.owner_id, data=_rendered(project))


def project_event_on_commit(event: str, project: Project) -> None:
    """Publish `event` with the project as it is now, once the current transaction commits (at
    once outside of one).

    `robust`: whatever goes wrong while announcing it, the write it announces stands.
    """
    data, project_id, owner_id = _rendered(project), project.pk, project.owner_id
    transaction.on_commit(
        lambda: _publish(event, project_id=project_id, owner_id=owner_id, data=data), robust=True
    )


def projects_event_on_commit(event: str, project_ids: Iterable[object]) -> None:
    """Publish `event` for each of these projects as they are once the transaction commits."""
    ids = list(project_ids)
    if not ids:
        return

    def announce() -> None:
        for project in Project.objects.filter(pk__in=ids):
            publish_project_event(event, project)

    transaction.on_commit(announce, robust=True)


def _rendered(project: Project) -> dict[str, Any]:
    return dict(ProjectOutput(project).data)


def _publish(event: str, *, project_id: Any, owner_id: Any, data: dict[str, Any]) -> None:
    publish(channel=project_channel(project_id), event=event, data=data)
    publish(channel=user_channel(owner_id), event=event, data=data)
