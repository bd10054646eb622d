"""Periodic tasks: declared in code, kept in django-celery-beat's tables, run by `celery beat`.

`settings.CELERY_BEAT_SCHEDULE` declares them (name → task, schedule: seconds as a number, a
`timedelta` or a `celery.schedules.crontab`; optional args, kwargs and options). On every
`manage.py migrate` (and when beat starts) `sync_periodic_tasks` writes them into the tables:

- a declared task is created, or updated to its declared task, schedule, arguments and options;
  whether it is enabled stays what staff chose in the admin (new ones start enabled);
- a task synced earlier but no longer declared is disabled (not deleted: its history stays);
  declared again later, it is enabled again;
- tasks staff created in the admin are left alone.

Synced tasks are recognised by their description, which starts with `DECLARED`.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any, cast

from celery import schedules
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django_celery_beat.schedulers import DatabaseScheduler as BaseDatabaseScheduler

logger = logging.getLogger(__name__)

DECLARED = "Declared in code (settings.CELERY_BEAT_SCHEDULE)."
RETIRED = "No longer declared in code: disabled."
ENTRY_KEYS = frozenset({"task", "schedule", "args", "kwargs", "options", "description"})
# Options of a declared entry: PeriodicTask fields of the same names.
OPTION_FIELDS = ("queue", "exchange", "routing_key", "priority", "expire_seconds")
# Largest unit first: an interval is stored in the largest unit that divides it exactly.
INTERVAL_UNITS = (("days", 86_400), ("hours", 3600), ("minutes", 60), ("seconds", 1))


def sync_periodic_tasks(**kwargs: Any) -> dict[str, int]:
    """Write settings.CELERY_BEAT_SCHEDULE into django-celery-beat's tables.

    Connected to post_migrate, which Django sends once per app: it runs for the `config` app only
    (or when called directly, without a sender). Returns counts of created, updated and disabled
    tasks.
    """
    app_config = kwargs.get("app_config")
    if app_config is not None and app_config.label != "config":
        return {}
    using = kwargs.get("using", DEFAULT_DB_ALIAS)
    from django_celery_beat.models import PeriodicTask

    if PeriodicTask._meta.db_table not in connections[using].introspection.table_names():
        return {}  # django-celery-beat's migrations have not run (yet)
    counts = {"created": 0, "updated": 0, "disabled": 0}
    declared: dict[str, dict[str, Any]] = settings.CELERY_BEAT_SCHEDULE
    with transaction.atomic(using=using):
        for name, entry in declared.items():
            outcome = _sync_one(name=name, entry=entry, using=using)
            if outcome:
                counts[outcome] += 1
        retired = (
            PeriodicTask.objects.using(using)
            .filter(description__startswith=DECLARED)
            .exclude(name__in=list(declared))
        )
        for task in retired.select_for_update():
            task.enabled = False
            task.description = RETIRED
            task.save(update_fields=["enabled", "description", "date_changed"])
            counts["disabled"] += 1
    if any(counts.values()):
        logger.info(
            "periodic tasks synced: %(created)d created, %(updated)d updated, "
            "%(disabled)d disabled",
            counts,
        )
    return counts


def _sync_one(*, name: str, entry: dict[str, Any], using: str) -> str | None:
    """Create or update one declared task; returns "created", "updated" or None (unchanged)."""
    from django_celery_beat.models import PeriodicTask

    unknown = set(entry) - ENTRY_KEYS
    if unknown or "task" not in entry or "schedule" not in entry:
        raise ValueError(
            f"CELERY_BEAT_SCHEDULE[{name!r}] needs `task` and `schedule` and may have "
            f"{', '.join(sorted(ENTRY_KEYS - {'task', 'schedule'}))} (got {sorted(entry)})."
        )
    options: dict[str, Any] = dict(entry.get("options") or {})
    if set(options) - set(OPTION_FIELDS):
        raise ValueError(
            f"CELERY_BEAT_SCHEDULE[{name!r}]['options'] may have "
            f"{', '.join(OPTION_FIELDS)} (got {sorted(options)})."
        )
    interval, crontab = _schedule_row(name=name, schedule=entry["schedule"], using=using)
    description = DECLARED + (f" {entry['description']}" if entry.get("description") else "")
    wanted: dict[str, Any] = {
        "task": entry["task"],
        "interval_id": interval.pk if interval else None,
        "crontab_id": crontab.pk if crontab else None,
        "solar_id": None,
        "clocked_id": None,
        "one_off": False,
        "args": json.dumps(list(entry.get("args") or [])),
        "kwargs": json.dumps(dict(entry.get("kwargs") or {})),
        "description": description,
        **{field: options.get(field) for field in OPTION_FIELDS},
    }
    task = PeriodicTask.objects.using(using).select_for_update().filter(name=name).first()
    if task is None:
        PeriodicTask.objects.using(using).create(name=name, enabled=True, **wanted)
        return "created"
    changed = {field: value for field, value in wanted.items() if getattr(task, field) != value}
    if task.description.startswith(RETIRED):
        changed["enabled"] = True  # declared again after it was retired
    if not changed:
        return None
    for field, value in changed.items():
        setattr(task, field, value)
    task.save(using=using)  # also tells a running beat that the schedule changed
    return "updated"


def _schedule_row(*, name: str, schedule: Any, using: str) -> tuple[Any, Any]:
    """(IntervalSchedule, None) or (None, CrontabSchedule) rows for a declared schedule."""
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule

    if isinstance(schedule, schedules.crontab):
        cron: Any = schedule  # its fields as written are private attributes (as beat reads them)
        spec = {
            "minute": str(cron._orig_minute),
            "hour": str(cron._orig_hour),
            "day_of_week": str(cron._orig_day_of_week),
            "day_of_month": str(cron._orig_day_of_month),
            "month_of_year": str(cron._orig_month_of_year),
            "timezone": settings.CELERY_TIMEZONE,
        }
        row = CrontabSchedule.objects.using(using).filter(**spec).first()
        return None, row or CrontabSchedule.objects.using(using).create(**spec)
    if isinstance(schedule, schedules.schedule):
        schedule = cast(Any, schedule).run_every
    if isinstance(schedule, timedelta):
        schedule = schedule.total_seconds()
    if isinstance(schedule, bool) or not isinstance(schedule, int | float) or schedule < 1:
        raise ValueError(
            f"CELERY_BEAT_SCHEDULE[{name!r}]['schedule'] must be seconds (at least 1), a "
            f"timedelta or a crontab (got {schedule!r})."
        )
    seconds = round(schedule)
    every, period = next(
        (seconds // size, unit) for unit, size in INTERVAL_UNITS if seconds % size == 0
    )
    row = IntervalSchedule.objects.using(using).filter(every=every, period=period).first()
    return row or IntervalSchedule.objects.using(using).create(every=every, period=period), None


class DatabaseScheduler(BaseDatabaseScheduler):
    """django-celery-beat's scheduler, whose tables get the declared schedule when beat starts.

    The stock scheduler writes `beat_schedule` itself on start, resetting nothing staff chose but
    also retiring nothing; here the same `sync_periodic_tasks` as on migrate runs instead (it
    declares `celery.backend_cleanup` too), so beat and migrate agree.
    """

    def setup_schedule(self) -> None:
        """Sync the declared tasks; the schedule itself is read from the tables."""
        sync_periodic_tasks()
