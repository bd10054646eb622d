"""A real Celery worker on Redis sends the outbox through SMTP: retries, failure, staff retry,
and the data export's link."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.db import connection

from accounts.models import DataExport
from notifications.models import EmailMessage
from notifications.services import email_send
from tests.factories import ProjectFactory
from tests.notifications.conftest import SmtpSink, new_user, parts
from tests.processes import (
    celery_worker,
    default_queue,
    purge_queues,
    sending_to_broker,
    wait_for,
    worker_env,
)

OUTBOX_ADMIN = "/admin/notifications/emailmessage/"

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)"),
]


def test_a_real_worker_sends_retries_fails_and_exports(
    live_database_url, smtp_sink: SmtpSink, staff, client, api, settings, tmp_path: Path
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the worker and the test must share one database")
    settings.MEDIA_ROOT = tmp_path / "media"
    env = worker_env(
        live_database_url,
        EMAIL_PROVIDER="smtp",
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_sink.port),
        EMAIL_USE_TLS="false",
        EMAIL_SEND_MAX_RETRIES="2",
        CELERY_RETRY_BACKOFF_MAX_SECONDS="1",
        MEDIA_ROOT=str(settings.MEDIA_ROOT),
    )
    log_path = tmp_path / "worker.log"
    smtp_sink.refuse_next = 1  # the first message is refused once (451), then accepted
    smtp_sink.refused_recipients = {"bounce@example.com"}
    user = new_user(email="fay@example.com")
    ProjectFactory(owner=user, name="Worker project")

    purge_queues(default_queue())
    worker = celery_worker(env, name="notifications", queue=default_queue(), log_path=log_path)
    with worker, sending_to_broker():
        retried = email_send(to=user.email, template="welcome", context={}, user=user)
        wait_for(
            lambda: EmailMessage.objects.filter(pk=retried.pk, status="sent").exists(),
            timeout=60,
            what="the refused email to be sent on retry",
            log=log_path,
        )
        bounced = email_send(to="bounce@example.com", template="welcome", context={})
        wait_for(
            lambda: EmailMessage.objects.filter(pk=bounced.pk, status="failed").exists(),
            timeout=60,
            what="the bounced email to fail",
            log=log_path,
        )

        # Staff retry it once the address is accepted.
        smtp_sink.refused_recipients = set()
        client.post(OUTBOX_ADMIN, {"action": "retry_emails", "_selected_action": [str(bounced.pk)]})
        wait_for(
            lambda: EmailMessage.objects.filter(pk=bounced.pk, status="sent").exists(),
            timeout=60,
            what="the retried email to be sent",
            log=log_path,
        )

        # The export is built by the worker, which emails its link.
        response = api.as_user(user).post("/api/v1/app/users/me/export")
        assert response.status_code == 202
        export_id = response.json()["id"]
        wait_for(
            lambda: smtp_sink.to(user.email) and len(smtp_sink.to(user.email)) == 2,
            timeout=60,
            what="the export email",
            log=log_path,
        )

    retried.refresh_from_db()
    bounced.refresh_from_db()
    assert (retried.attempts, retried.error) == (2, "")
    assert bounced.attempts == 4  # three attempts, then one more after the staff retry
    assert DataExport.objects.get(pk=export_id).status == DataExport.Status.READY
    export_email = smtp_sink.to(user.email)[-1]
    assert export_email["Subject"] == "Your Groundwork data export is ready"
    [url] = re.findall(r"https?://\S+", parts(export_email)["text/plain"])
    link = urlsplit(url)
    # The emailed link redirects to a fresh short-lived download URL.
    downloaded = client.get(f"{link.path}?{link.query}", follow=True)
    assert downloaded.status_code == 200
    data = json.loads(b"".join(downloaded.streaming_content))
    assert data["profile"]["email"] == "fay@example.com"
    assert [project["name"] for project in data["projects"]] == ["Worker project"]
    assert "Retry in" in log_path.read_text(errors="replace")
