"""Abstract base models every app builds on."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Generic, Self, TypeVar, cast

from django.db import models, transaction
from django.utils import timezone

from config.errors import NotFoundError

M = TypeVar("M", bound="SoftDeleteModel")
T = TypeVar("T", bound=models.Model)


class OwnedQuerySet(models.QuerySet[T], Generic[T]):
    """Rows that belong to one user: the only way selectors reach a user's resources.

    Every owned resource's default manager is built on this queryset, so scoping to the caller
    is declared once: `Model.objects.for_owner(user)` for lists, `get_for_owner(...)` for one row
    (a missing, malformed or someone else's id is the same 404). `owner_field` names the FK.
    """

    owner_field: ClassVar[str] = "owner"

    def for_owner(self, owner: Any) -> Self:
        """The rows of `owner` only."""
        return self.filter(**{self.owner_field: owner})

    def get_for_owner(self, *, owner: Any, pk: str, resource: str) -> T:
        """`owner`'s row with primary key `pk` (a UUID); NotFoundError(resource, pk) otherwise."""
        try:
            key = uuid.UUID(pk)
        except ValueError:
            raise NotFoundError(resource, pk) from None
        row = self.for_owner(owner).filter(pk=key).first()
        if row is None:
            raise NotFoundError(resource, pk)
        return row


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
    """The default manager: hides soft-deleted rows. `AliveManager.from_queryset(...)` gives one
    with a richer queryset (an `AliveQuerySet` that is also an `OwnedQuerySet`, say)."""

    _queryset_class = AliveQuerySet

    def get_queryset(self) -> AliveQuerySet[M]:
        return cast(AliveQuerySet[M], super().get_queryset().filter(deleted_at__isnull=True))


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


def delete_in_batches(queryset: models.QuerySet[Any], *, order_by: str, batch_size: int) -> int:
    """Delete the rows of `queryset`, oldest first by `order_by`, `batch_size` rows per
    transaction, skipping rows another transaction holds locked (a replay, a send under way);
    returns how many were deleted. For retention sweeps: no long transaction, no long lock."""
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                queryset.select_for_update(skip_locked=True)
                .order_by(order_by)
                .values_list("pk", flat=True)[:batch_size]
            )
            queryset.model._default_manager.filter(pk__in=ids).delete()
        total += len(ids)
        if len(ids) < batch_size:
            return total
