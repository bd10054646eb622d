"""Reads of projects."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from accounts.models import User
from config.errors import NotFoundError
from projects.models import Project


def project_list(*, owner: User, search: str | None = None) -> QuerySet[Project]:
    """The owner's live projects, newest first, optionally filtered by a name substring.

    `search` is case-insensitive and literal: `%` and `_` match themselves.
    """
    projects = Project.objects.filter(owner=owner)
    if search:
        projects = projects.filter(name__icontains=search)
    return projects.order_by("-created_at", "-id")


def project_get(*, owner: User, project_id: str) -> Project:
    """The owner's live project; NotFoundError for missing, deleted, foreign or malformed ids."""
    try:
        key = uuid.UUID(project_id)
    except ValueError:
        raise NotFoundError("Project", project_id) from None
    project = Project.objects.filter(owner=owner, pk=key).first()
    if project is None:
        raise NotFoundError("Project", project_id)
    return project
