"""Models that moved between apps keep their tables, rows and permissions when a database of the
old layout is migrated: the usage counters (billing → usage) and the email outbox (accounts →
notifications)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.live import BASE_DIR

# Runs in a fresh process against an empty database: migrate to the old layout, write rows
# through the historical models, migrate forward, read them through today's models.
SCRIPT = """
import datetime, django
django.setup()
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

OLD = [("accounts", "0003_dataexport_emailmessage"), ("billing", "0002_usage_counters")]
NEW = [("accounts", "0004_move_emailmessage_to_notifications"),
       ("billing", "0003_move_usage_to_usage_app"),
       # Today's EmailMessage reads its later columns too (delivery status).
       ("notifications", "0002_delivery_status_suppression")]

executor = MigrationExecutor(connection)
executor.migrate(OLD)
old = executor.loader.project_state(OLD).apps
user = old.get_model("accounts", "User").objects.create(id="user-1", email="a@example.com")
old.get_model("billing", "UsageCounter").objects.create(
    user=user, metric="api_requests", day=datetime.date(2026, 11, 30), value=7)
old.get_model("billing", "UsageFlushBatch").objects.create(key="usage:batch:1")
old.get_model("accounts", "EmailMessage").objects.create(
    user=user, to="a@example.com", template="welcome", subject="Hi", text_body="Hello")
content_type = old.get_model("contenttypes", "ContentType")
permission = old.get_model("auth", "Permission")
for app, model in (("billing", "usagecounter"), ("accounts", "emailmessage")):
    ct = content_type.objects.create(app_label=app, model=model)
    permission.objects.create(content_type=ct, codename=f"view_{model}", name=f"Can view {model}")

executor = MigrationExecutor(connection)
executor.migrate(NEW)

from django.contrib.auth.models import Permission
from notifications.models import EmailMessage
from usage.models import UsageCounter, UsageFlushBatch
counter = UsageCounter.objects.get()
email = EmailMessage.objects.get()
print(counter.user_id, counter.metric, counter.value, UsageFlushBatch.objects.get().key)
print(email.user_id, email.template, email.text_body)
print(sorted(Permission.objects.values_list("content_type__app_label", "codename")))
"""


@pytest.fixture
def empty_database() -> Iterator[str]:
    """A database URL of an empty database of the kind the suite runs on."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        path = BASE_DIR / f".pytest-migration-{uuid.uuid4().hex}.sqlite3"
        yield f"sqlite:///{path}"
        path.unlink(missing_ok=True)
        return
    name = f"groundwork_migration_{uuid.uuid4().hex[:12]}"
    server = url.rsplit("/", 1)[0]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{server}/{name}"
    finally:
        with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_database_of_the_old_layout_keeps_its_rows_and_permissions(empty_database):
    env = {
        "PATH": os.environ["PATH"],
        "ENVIRONMENT": "test",
        "DATABASE_URL": empty_database,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }

    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    counter, email, permissions = result.stdout.strip().splitlines()
    assert counter == "user-1 api_requests 7 usage:batch:1"
    assert email == "user-1 welcome Hello"
    assert permissions == str(
        [("notifications", "view_emailmessage"), ("usage", "view_usagecounter")]
    )
