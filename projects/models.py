"""Projects: the first resource users own."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.db.models import Q

from config.models import AliveManager, AliveQuerySet, OwnedQuerySet, SoftDeleteModel

NAME_MAX_LENGTH = 255
DESCRIPTION_MAX_LENGTH = 2000


# The stubs' generated `as_manager` signatures of the two bases clash; the class is sound.
class ProjectQuerySet(AliveQuerySet["Project"], OwnedQuerySet["Project"]):  # type: ignore[override]
    """Live projects, scoped to their owner."""


ProjectManager = AliveManager.from_queryset(ProjectQuerySet)


class Project(SoftDeleteModel):
    """A named project owned by one user; deleting it only hides it (staff can restore)."""

    objects: ClassVar[ProjectManager[Project]] = ProjectManager()  # type: ignore[assignment]

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects"
    )
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    description = models.TextField(max_length=DESCRIPTION_MAX_LENGTH, null=True, blank=True)

    class Meta:
        db_table = "projects"
        ordering = ["-created_at"]
        indexes = [
            # The owner's live projects, newest first: the list endpoint's only access path.
            models.Index(
                fields=["owner", "-created_at", "-id"],
                condition=Q(deleted_at__isnull=True),
                name="projects_owner_live_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.name
