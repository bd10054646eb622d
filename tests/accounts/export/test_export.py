"""POST /users/me/export: a JSON copy of the user's data, emailed as a download link."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import DataExport
from files.models import File
from notifications.models import EmailMessage
from tests.billing.factories import EntitlementFactory
from tests.factories import ProjectFactory, UserFactory
from usage.services import usage_record

EXPORT = "/api/v1/app/users/me/export"
LINK = re.compile(r"https?://\S+")

pytestmark = pytest.mark.django_db


def request_export(api: Any, user: Any, capture: Any) -> Any:
    with capture(execute=True):
        return api.as_user(user).post(EXPORT)


def download(client: Any, url: str) -> Any:
    """Follow the export's link (a redirect to a short-lived download URL) to the file."""
    parts = urlsplit(url)
    assert parts.netloc == "testserver"
    return client.get(f"{parts.path}?{parts.query}", follow=True)


def test_the_export_is_emailed_as_a_link_to_the_users_data_only(
    api, client, django_capture_on_commit_callbacks
):
    user = UserFactory(full_name="Fay")
    other = UserFactory(full_name="Someone Else")
    project = ProjectFactory(owner=user, name="Fay's project")
    ProjectFactory(owner=other, name="Other project")
    File.objects.create(
        owner=user,
        key="uploads/x/1",
        filename="notes.txt",
        content_type="text/plain",
        declared_size=10,
        size=10,
        status=File.Status.UPLOADED,
    )
    File.objects.create(
        owner=other,
        key="uploads/y/2",
        filename="secret.pdf",
        content_type="application/pdf",
        declared_size=10,
        status=File.Status.PENDING,
    )
    EntitlementFactory(user=user)
    usage_record(user_id=user.pk, metric="ai_requests", amount=4)

    response = request_export(api, user, django_capture_on_commit_callbacks)

    assert response.status_code == 202
    body = response.json()
    assert (body["status"], body["email"]) == ("queued", user.email)
    export = DataExport.objects.get(pk=body["id"])
    assert export.status == DataExport.Status.READY and export.file is not None

    [sent] = [message for message in mail.outbox if message.to == [user.email]]
    assert sent.subject == "Your Groundwork data export is ready"
    [url] = LINK.findall(sent.body)
    assert url in sent.alternatives[0][0]
    assert "7 days" in sent.body

    downloaded = download(client, url)
    assert downloaded.status_code == 200
    assert "attachment" in downloaded["Content-Disposition"]
    raw = b"".join(downloaded.streaming_content).decode()
    data = json.loads(raw)
    assert data["format"] == "groundwork-export"
    assert data["profile"]["id"] == user.pk and data["profile"]["email"] == user.email
    assert [p["name"] for p in data["projects"]] == ["Fay's project"]
    assert data["projects"][0]["id"] == str(project.pk)
    assert [f["filename"] for f in data["files"]] == ["notes.txt"]
    assert data["billing"]["plan"] == "pro" and data["billing"]["source"] == "stripe"
    assert data["usage"]["metrics"]["ai_requests"] == 4
    for foreign in (other.pk, other.email, "Someone Else", "Other project", "secret.pdf"):
        assert foreign not in raw

    stored = export.file
    assert (stored.owner_id, stored.content_type, stored.status) == (
        user.pk,
        "application/json",
        File.Status.UPLOADED,
    )
    # It is one of the user's files: the files API lists it and gives fresh links.
    listed = api.as_user(user).get("/api/v1/app/files").json()["items"]
    assert str(stored.pk) in [item["id"] for item in listed]
    assert EmailMessage.objects.get(template="export_ready").status == EmailMessage.Status.SENT


def test_a_second_export_within_ten_minutes_is_refused(api, django_capture_on_commit_callbacks):
    user = UserFactory()
    assert request_export(api, user, django_capture_on_commit_callbacks).status_code == 202

    response = request_export(api, user, django_capture_on_commit_callbacks)

    assert response.status_code == 429
    error = response.json()["error"]
    assert error["code"] == "RATE_LIMIT_EXCEEDED"
    assert 590 <= error["details"]["retry_after"] <= 601
    assert response["Retry-After"] == str(error["details"]["retry_after"])
    assert DataExport.objects.count() == 1


def test_a_later_export_replaces_the_previous_file(api, django_capture_on_commit_callbacks):
    user = UserFactory()
    request_export(api, user, django_capture_on_commit_callbacks)
    first = DataExport.objects.get()
    DataExport.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(minutes=11))

    assert request_export(api, user, django_capture_on_commit_callbacks).status_code == 202

    latest = DataExport.objects.exclude(pk=first.pk).get()
    assert list(File.objects.filter(owner=user).values_list("pk", flat=True)) == [latest.file_id]
    first.refresh_from_db()
    assert first.file is None


def test_without_an_email_the_export_is_only_among_the_files(
    api, django_capture_on_commit_callbacks
):
    user = UserFactory(email="")
    response = request_export(api, user, django_capture_on_commit_callbacks)
    assert response.status_code == 202 and response.json()["email"] is None
    assert File.objects.filter(owner=user, content_type="application/json").count() == 1
    assert mail.outbox == []


def test_the_export_needs_a_token(api):
    response = api.post(EXPORT)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"


def test_staff_see_exports_in_the_admin(api, staff, client, django_capture_on_commit_callbacks):
    user = UserFactory()
    request_export(api, user, django_capture_on_commit_callbacks)
    export = DataExport.objects.get()
    listed = client.get("/admin/accounts/dataexport/")
    assert listed.status_code == 200 and user.email in listed.content.decode()
    assert client.get(f"/admin/accounts/dataexport/{export.pk}/change/").status_code == 200
