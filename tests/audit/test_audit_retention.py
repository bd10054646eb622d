"""Retention: events older than AUDIT_RETENTION_DAYS are deleted daily, in batches; 0 keeps all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery.schedules import crontab
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import audit_events_delete_old, audit_record
from audit.tasks import delete_old_audit_events
from tests.live import run_manage

pytestmark = pytest.mark.django_db


def recorded(action: str, *, days_ago: float) -> AuditEvent:
    event = audit_record(action=action)
    AuditEvent.objects.filter(pk=event.pk).update(
        created_at=timezone.now() - timedelta(days=days_ago)
    )
    return event


def remaining() -> set[str]:
    return set(AuditEvent.objects.values_list("action", flat=True))


def test_the_daily_task_deletes_only_events_past_the_retention(settings):
    settings.AUDIT_RETENTION_DAYS = 730
    for action, days in (("old.1", 900), ("old.2", 731), ("kept.1", 729), ("kept.2", 0)):
        recorded(action, days_ago=days)

    deleted = delete_old_audit_events.delay().get()

    assert deleted == 2
    assert remaining() == {"kept.1", "kept.2"}


def test_zero_days_keeps_every_event(settings):
    settings.AUDIT_RETENTION_DAYS = 0
    recorded("ancient", days_ago=5000)

    assert delete_old_audit_events.delay().get() == 0
    assert remaining() == {"ancient"}


def test_a_backlog_is_deleted_in_batches():
    for n in range(5):
        recorded(f"old.{n}", days_ago=40 + n)
    recorded("recent", days_ago=1)

    assert audit_events_delete_old(older_than=timedelta(days=30), batch_size=2) == 5
    assert remaining() == {"recent"}


def test_the_task_is_scheduled_daily(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["audit-delete-old-events"]

    assert entry["task"] == "audit.tasks.delete_old_audit_events"
    assert isinstance(entry["schedule"], crontab) and entry["schedule"].hour == {3}


@pytest.mark.standalone
def test_the_retention_setting_reads_the_environment():
    ok = run_manage(
        {"AUDIT_RETENTION_DAYS": "0"},
        "shell",
        "-c",
        "from django.conf import settings; print(settings.AUDIT_RETENTION_DAYS)",
    )
    negative = run_manage({"AUDIT_RETENTION_DAYS": "-1"}, "check")

    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[-1] == "0"
    assert negative.returncode != 0
    assert "AUDIT_RETENTION_DAYS must be at least 0" in negative.stderr
