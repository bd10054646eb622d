"""Periodic tasks declared in settings are synced into django-celery-beat's tables on migrate;
staff's pause survives, retired tasks are disabled, staff's own tasks are left alone."""

from __future__ import annotations

import json

import pytest
from celery.schedules import crontab
from django.core.management import call_command
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from config.beat import DECLARED, RETIRED, sync_periodic_tasks

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/django_celery_beat/periodictask/"


@pytest.fixture(autouse=True)
def _no_periodic_tasks(db) -> None:
    """Start from empty tables (the test database was synced with the real settings)."""
    PeriodicTask.objects.all().delete()


def migrate() -> None:
    call_command("migrate", verbosity=0, interactive=False)


def task(name: str) -> PeriodicTask:
    return PeriodicTask.objects.get(name=name)


def test_migrate_syncs_the_declared_schedule(settings):
    migrate()

    assert set(PeriodicTask.objects.values_list("name", flat=True)) == set(
        settings.CELERY_BEAT_SCHEDULE
    )
    assert all(
        row.enabled and row.description.startswith(DECLARED) for row in PeriodicTask.objects.all()
    )
    flush = task("usage-flush-counters")
    assert (flush.task, flush.interval.every, flush.interval.period) == (
        "usage.tasks.flush_usage_counters",
        1,
        IntervalSchedule.MINUTES,
    )
    assert str(task("webhooks-retry-stale-events").interval) == "every 5 minutes"
    weekly = {
        name: (
            row.crontab.minute,
            row.crontab.hour,
            row.crontab.day_of_week,
            str(row.crontab.timezone),
        )
        for name in ("files-purge-expired-uploads", "webhooks-purge-old-events")
        for row in [task(name)]
    }
    assert weekly == {
        "files-purge-expired-uploads": ("0", "3", "sun", "UTC"),
        "webhooks-purge-old-events": ("30", "3", "sun", "UTC"),
    }
    report = task("console-send-daily-report")
    assert (
        report.task,
        report.crontab.hour,
        report.crontab.minute,
        report.crontab.day_of_week,
    ) == (
        "console.tasks.send_daily_report",
        "9",
        "0",
        "*",
    )
    cleanup = task("celery.backend_cleanup")
    assert (cleanup.crontab.hour, cleanup.expire_seconds) == ("4", 43200)


def test_a_task_staff_paused_stays_paused_while_its_declaration_changes(settings, staff, client):
    settings.CELERY_BEAT_SCHEDULE = {
        "jobs-report": {"task": "jobs.report", "schedule": 30.0},
        "jobs-nightly": {"task": "jobs.nightly", "schedule": crontab(minute=15, hour=2)},
    }
    assert sync_periodic_tasks() == {"created": 2, "updated": 0, "disabled": 0}
    report = task("jobs-report")
    assert (report.enabled, report.interval.every, report.interval.period) == (
        True,
        30,
        IntervalSchedule.SECONDS,
    )

    response = client.post(
        CHANGELIST, {"action": "disable_tasks", "_selected_action": [report.pk]}, follow=True
    )
    assert response.status_code == 200
    assert not task("jobs-report").enabled

    settings.CELERY_BEAT_SCHEDULE["jobs-report"] = {
        "task": "jobs.report_v2",
        "schedule": 7200,
        "args": ["daily"],
        "kwargs": {"limit": 10},
        "options": {"queue": "reports", "expire_seconds": 60},
        "description": "The usage report.",
    }
    migrate()

    report = task("jobs-report")
    assert report.enabled is False  # staff's choice
    assert (report.task, report.interval.every, report.interval.period) == (
        "jobs.report_v2",
        2,
        IntervalSchedule.HOURS,
    )
    assert (json.loads(report.args), json.loads(report.kwargs)) == (["daily"], {"limit": 10})
    assert (report.queue, report.expire_seconds) == ("reports", 60)
    assert report.description == f"{DECLARED} The usage report."
    assert task("jobs-nightly").enabled


def test_an_unchanged_declaration_writes_nothing(settings):
    settings.CELERY_BEAT_SCHEDULE = {
        "jobs-nightly": {"task": "jobs.nightly", "schedule": crontab(minute=15, hour=2)}
    }
    sync_periodic_tasks()
    changed_at = task("jobs-nightly").date_changed

    assert sync_periodic_tasks() == {"created": 0, "updated": 0, "disabled": 0}
    assert task("jobs-nightly").date_changed == changed_at


def test_tasks_no_longer_declared_are_disabled_and_staff_tasks_left_alone(settings):
    every_minute, _ = IntervalSchedule.objects.get_or_create(
        every=1, period=IntervalSchedule.MINUTES
    )
    PeriodicTask.objects.create(name="staff-made", task="jobs.adhoc", interval=every_minute)
    settings.CELERY_BEAT_SCHEDULE = {
        "jobs-kept": {"task": "jobs.kept", "schedule": 60.0},
        "jobs-dropped": {"task": "jobs.dropped", "schedule": 60.0},
    }
    sync_periodic_tasks()

    del settings.CELERY_BEAT_SCHEDULE["jobs-dropped"]
    assert sync_periodic_tasks() == {"created": 0, "updated": 0, "disabled": 1}
    dropped = task("jobs-dropped")
    assert (dropped.enabled, dropped.description) == (False, RETIRED)
    assert task("jobs-kept").enabled
    staff_made = task("staff-made")
    assert (staff_made.enabled, staff_made.description) == (True, "")

    settings.CELERY_BEAT_SCHEDULE["jobs-dropped"] = {"task": "jobs.dropped", "schedule": 60.0}
    assert sync_periodic_tasks() == {"created": 0, "updated": 1, "disabled": 0}
    dropped = task("jobs-dropped")
    assert dropped.enabled and dropped.description == DECLARED


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"task": "jobs.x"}, "needs `task` and `schedule`"),
        ({"task": "jobs.x", "schedule": 60, "every": 5}, "needs `task` and `schedule`"),
        ({"task": "jobs.x", "schedule": 0.5}, "must be seconds"),
        ({"task": "jobs.x", "schedule": "hourly"}, "must be seconds"),
        ({"task": "jobs.x", "schedule": 60, "options": {"countdown": 5}}, "may have queue"),
    ],
)
def test_a_malformed_declaration_stops_the_sync_with_its_name(settings, entry, message):
    settings.CELERY_BEAT_SCHEDULE = {"jobs-bad": entry}

    with pytest.raises(ValueError, match=message) as raised:
        sync_periodic_tasks()

    assert "jobs-bad" in str(raised.value)
