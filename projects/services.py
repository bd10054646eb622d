"""Writes to projects."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from projects.events import project_event_on_commit, projects_event_on_commit
from projects.models import Project

UNSET: Any = object()


def project_create(*, owner: User, name: str, description: str | None = None) -> Project:
    """Create a project for `owner`."""
    project = Project(owner=owner, name=name.strip(), description=description)
    project.full_clean()
    project.save()
    project_event_on_commit("project.created", project)
    return project


def project_update(*, project: Project, name: Any = UNSET, description: Any = UNSET) -> Project:
    """Change the given fields only."""
    changed = []
    if name is not UNSET:
        project.name = name.strip()
        changed.append("name")
    if description is not UNSET:
        project.description = description
        changed.append("description")
    if changed:
        project.full_clean()
        project.save(update_fields=[*changed, "updated_at"])
        project_event_on_commit("project.updated", project)
    return project


def project_delete(*, project: Project) -> None:
    """Soft-delete: hidden from the API at once, restorable by staff in the admin."""
    project.soft_delete()
    project_event_on_commit("project.deleted", project)


def projects_restore(*, projects: QuerySet[Project]) -> int:
    """Bring soft-deleted projects back (staff, from the admin); returns how many.

    To their owners' clients a restored project appears again: `project.created`.
    """
    with transaction.atomic():
        ids = list(projects.filter(deleted_at__isnull=False).values_list("pk", flat=True))
        restored = Project.all_objects.filter(pk__in=ids).update(
            deleted_at=None, updated_at=timezone.now()
        )
        projects_event_on_commit("project.created", ids)
    return restored


def projects_erase(*, owner_id: str) -> int:
    """Remove every project of a user for good (GDPR erasure); returns how many.

    No events: the user's sockets are closed as their account goes.
    """
    deleted, _ = Project.all_objects.filter(owner_id=owner_id).delete()
    return deleted
