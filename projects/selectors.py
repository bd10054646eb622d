"""Reads of projects."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from accounts.models import User
from config.errors import NotFoundError
from config.pagination import CompiledList
from projects.models import Project

PROJECT_FIELDS = ("id", "name", "description", "owner_id", "created_at", "updated_at")


def project_list(*, owner: User, search: str | None = None) -> QuerySet[Project, dict[str, Any]]:
    """The owner's live projects as rows of the output fields, newest first.

    `search` keeps names containing it, case-insensitively and literally (`%` and `_` match
    themselves). Rows rather than model instances: the list is the hot path.
    """
    projects = _project_rows(owner.pk)
    return projects.filter(name__icontains=search) if search else projects


def _project_rows(owner_id: str) -> QuerySet[Project, dict[str, Any]]:
    projects = Project.objects.for_owner(owner_id).order_by("-created_at", "-id")
    return projects.values(*PROJECT_FIELDS)


# The list without a search: every app start asks for it, so its SQL is compiled once.
PROJECT_LIST = CompiledList(_project_rows)


def project_get(*, owner: User, project_id: str) -> Project:
    """The owner's live project; NotFoundError for missing, deleted, foreign or malformed ids."""
    return Project.objects.get_for_owner(owner=owner, pk=project_id, resource="Project")


def project_readable(*, user: User, project_id: str) -> bool:
    """Whether `user` may follow the project's events: as `project_get`, its live owner only."""
    try:
        project_get(owner=user, project_id=project_id)
    except NotFoundError:
        return False
    return True
