"""Usage counters: each user's daily count per metric, added by the flush of the cache counters
(`usage.services`), which records each batch it added in `UsageFlushBatch`."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class UsageCounter(models.Model):
    """How much of one metric a user used on one day (UTC), as flushed from the cache counters.

    `usage.services` counts in the cache and its flush adds the counts here, so a row's `value`
    only grows; the counts not flushed yet are still in the cache.
    """

    # The unique (user, metric, day) index starts with the user, so the FK needs no index.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="usage_counters",
        db_index=False,
    )
    metric = models.CharField(max_length=32)
    day = models.DateField(help_text="The day (UTC) the usage happened.")
    value = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(
        default=timezone.now, help_text="When a flush last added to this row."
    )

    class Meta:
        db_table = "usage_counters"
        ordering = ["-day", "metric"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "metric", "day"], name="usage_counters_user_metric_day_uniq"
            ),
        ]
        indexes = [models.Index(fields=["day", "metric"], name="usage_counters_day_metric_idx")]

    def __str__(self) -> str:
        return f"{self.metric} on {self.day}: {self.value}"


class UsageFlushBatch(models.Model):
    """One batch of cache counters that a flush added to `UsageCounter`.

    Written in the same transaction as the counts, so a batch that is read again (a flush that
    stopped after its commit but before removing the batch from the cache) is never added twice.
    Rows are removed once no cache key can still hold their batch.
    """

    key = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "usage_flush_batches"

    def __str__(self) -> str:
        return self.key
