"""The link of a data export's email and `export.ready` event: valid EXPORT_LINK_DAYS, each click
a 302 to a freshly made short-lived download URL, and a clear 404 once expired, tampered with, or
when the export or its user is gone."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.core import mail
from django.utils import timezone
from freezegun import freeze_time

from accounts.models import DataExport
from tests.accounts.export.test_export import LINK, request_export
from tests.factories import UserFactory
from tests.files.conftest import BUCKET, media_root, s3_client, s3_endpoint, s3_storage
from tests.live import request, run_manage

__all__ = ["media_root", "s3_client", "s3_endpoint", "s3_storage"]

EXPORT_LINK = "/api/v1/public/exports/download"

pytestmark = pytest.mark.django_db


def emailed_link(user: Any) -> str:
    """The link of the newest export email sent to `user`."""
    [*_, sent] = [message for message in mail.outbox if message.to == [user.email]]
    [url] = LINK.findall(str(sent.body))
    return str(url)


def export_for(api: Any, user: Any, capture: Any) -> str:
    """Ask for an export (run at once) and return the link emailed for it."""
    response = request_export(api, user, capture)
    assert response.status_code == 202
    return emailed_link(user)


def click(client: Any, url: str) -> Any:
    parts = urlsplit(url)
    assert parts.netloc == "testserver"
    return client.get(f"{parts.path}?{parts.query}")


def fetch(client: Any, url: str) -> Any:
    """GET a download URL of the app's own storage."""
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}")


def refused(response: Any, reason: str) -> dict[str, Any]:
    assert response.status_code == 404, response.content
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "NOT_FOUND"
    assert error["details"]["resource"] == "DataExport"
    assert error["details"]["reason"] == reason
    return error


@pytest.fixture
def user() -> Any:
    return UserFactory(full_name="Fay")


def test_the_emailed_link_outlives_the_download_urls_and_each_click_mints_a_fresh_one(
    api, client, user, settings, django_capture_on_commit_callbacks
):
    assert settings.FILE_DOWNLOAD_URL_EXPIRES == 300
    with freeze_time(timezone.now()) as clock:
        link = export_for(api, user, django_capture_on_commit_callbacks)
        assert urlsplit(link).path == EXPORT_LINK
        assert list(parse_qs(urlsplit(link).query)) == ["token"]
        [sent] = [message for message in mail.outbox if message.to == [user.email]]
        assert "the link works for 7 days" in sent.body
        assert "The link works for 7 days." in sent.alternatives[0][0]

        first = click(client, link)
        assert first.status_code == 302
        assert first["Cache-Control"] == "no-store"
        assert fetch(client, first["Location"]).status_code == 200

        # Six days later the first download URL is long dead; the link still works.
        clock.tick(timedelta(days=6, hours=23))
        assert fetch(client, first["Location"]).status_code == 403
        again = click(client, link)
        assert again.status_code == 302
        assert again["Location"] != first["Location"]
        downloaded = fetch(client, again["Location"])
        assert downloaded.status_code == 200
        assert "attachment" in downloaded["Content-Disposition"]
        data = json.loads(b"".join(downloaded.streaming_content))
        assert data["profile"]["id"] == user.pk

        clock.tick(timedelta(hours=1, seconds=1))
        error = refused(click(client, link), "expired")
        assert error["message"].startswith("This download link has expired")
        assert error["details"]["id"] == str(DataExport.objects.get(user=user).pk)


def test_the_links_lifetime_comes_from_settings(
    api, client, user, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_LINK_DAYS = 2
    with freeze_time(timezone.now()) as clock:
        link = export_for(api, user, django_capture_on_commit_callbacks)
        [sent] = [message for message in mail.outbox if message.to == [user.email]]
        assert "the link works for 2 days" in sent.body
        # The validity is fixed when the link is made: changing the setting later changes
        # nothing for links already sent.
        settings.EXPORT_LINK_DAYS = 30

        clock.tick(timedelta(days=1, hours=23))
        assert click(client, link).status_code == 302
        clock.tick(timedelta(hours=1, seconds=1))
        refused(click(client, link), "expired")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        lambda token: "",
        lambda token: "not-a-token",
    ],
    ids=["tampered", "empty", "garbage"],
)
def test_a_tampered_link_is_not_found(
    api, client, user, mangle, django_capture_on_commit_callbacks
):
    link = export_for(api, user, django_capture_on_commit_callbacks)
    token = parse_qs(urlsplit(link).query)["token"][0]

    response = client.get(f"{EXPORT_LINK}?{urlencode({'token': mangle(token)})}")

    error = refused(response, "invalid")
    assert error["details"]["id"] is None
    assert response["Content-Type"] == "application/json"


def test_another_signed_url_of_the_app_is_not_an_export_link(
    api, client, user, django_capture_on_commit_callbacks
):
    link = export_for(api, user, django_capture_on_commit_callbacks)
    download = urlsplit(click(client, link)["Location"])
    token = parse_qs(download.query)["token"][0]  # signed by the app, for another purpose

    refused(client.get(f"{EXPORT_LINK}?{urlencode({'token': token})}"), "invalid")
    refused(client.get(EXPORT_LINK), "invalid")


def test_a_replaced_export_link_is_gone_and_the_new_one_works(
    api, client, user, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_MIN_INTERVAL_SECONDS = 0
    old = export_for(api, user, django_capture_on_commit_callbacks)
    new = export_for(api, user, django_capture_on_commit_callbacks)
    assert old != new

    error = refused(click(client, old), "gone")
    assert error["message"] == "This export is no longer available"
    assert click(client, new).status_code == 302


def test_a_link_to_an_export_the_user_deleted_is_gone(
    api, client, user, django_capture_on_commit_callbacks
):
    link = export_for(api, user, django_capture_on_commit_callbacks)
    stored = DataExport.objects.get(user=user).file_id
    with django_capture_on_commit_callbacks(execute=True):
        assert api.as_user(user).delete(f"/api/v1/app/files/{stored}").status_code == 204

    refused(click(client, link), "gone")


def test_a_deactivated_or_erased_users_link_is_gone(
    api, client, user, django_capture_on_commit_callbacks
):
    other = UserFactory()
    link = export_for(api, user, django_capture_on_commit_callbacks)
    other_link = export_for(api, other, django_capture_on_commit_callbacks)
    type(user).objects.filter(pk=user.pk).update(is_active=False)

    refused(click(client, link), "gone")
    assert click(client, other_link).status_code == 302

    with django_capture_on_commit_callbacks(execute=True):
        assert api.as_user(other).delete("/api/v1/app/users/me").status_code == 204
    refused(click(client, other_link), "gone")


def test_with_a_bucket_the_link_redirects_to_a_presigned_url(
    api, client, user, s3_storage, s3_client, django_capture_on_commit_callbacks
):
    link = export_for(api, user, django_capture_on_commit_callbacks)

    response = click(client, link)

    assert response.status_code == 302
    location = response["Location"]
    assert urlsplit(location).path.startswith(f"/{BUCKET}/exports/")
    assert "X-Amz-Signature" in location and "X-Amz-Expires=300" in location
    status, _, body = request("GET", location)
    assert status == 200
    assert json.loads(body)["profile"]["id"] == user.pk


@pytest.mark.parametrize("days", ["0", "31"])
@pytest.mark.standalone
def test_a_lifetime_out_of_bounds_stops_start_up(days):
    result = run_manage({"EXPORT_LINK_DAYS": days}, "check")

    assert result.returncode != 0
    assert "EXPORT_LINK_DAYS must be" in result.stderr
