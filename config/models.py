"""Abstract base models every app builds on."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Generic, TypeVar

from django.db import models
from django.utils import timezone

M = TypeVar("M", bound="SoftDeleteModel")


class TimestampedModel(models.Model):
    """`created_at` and `updated_at`, timezone-aware (UTC)."""

    created_at = models.DateTimeField(default=timezone.now, editable=False, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class BaseModel(TimestampedModel):
    """UUID primary key plus timestamps."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)

    class Meta:
        abstract = True


class AliveQuerySet(models.QuerySet[M], Generic[M]):
    def soft_delete(self) -> int:
        """Mark every row of the queryset deleted; returns how many changed."""
        return self.filter(deleted_at__isnull=True).update(deleted_at=timezone.now())


class AliveManager(models.Manager[M]):
    """The default manager: hides soft-deleted rows."""

    def get_queryset(self) -> AliveQuerySet[M]:
        return AliveQuerySet(self.model, using=self._db).filter(deleted_at__isnull=True)


class SoftDeleteModel(BaseModel):
    """A row that is hidden, not removed, when deleted; staff can restore it.

    `objects` sees live rows only; `all_objects` sees every row (the admin uses it).
    """

    deleted_at = models.DateTimeField(null=True, blank=True, db_index=True)

    objects: ClassVar[AliveManager[Any]] = AliveManager()
    all_objects: ClassVar[models.Manager[Any]] = models.Manager()

    class Meta:
        abstract = True
        base_manager_name = "all_objects"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    def soft_delete(self) -> None:
        """Hide the row from every default query."""
        if self.deleted_at is None:
            self.deleted_at = timezone.now()
            self.save(update_fields=["deleted_at", "updated_at"])

    def restore(self) -> None:
        """Bring a soft-deleted row back."""
        if self.deleted_at is not None:
            self.deleted_at = None
            self.save(update_fields=["deleted_at", "updated_at"])
