"""The outbox: emails reach a real SMTP server, are recorded, retried, failed, retried by staff."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from accounts.models import User
from accounts.services import user_sync_from_identity
from accounts.tokens import mint_development_token
from notifications.models import EmailMessage
from notifications.services import email_send
from notifications.tasks import send_email, send_unsent_emails
from tests.fakes import Answer, FakeServer, Request, free_port
from tests.notifications.conftest import SmtpSink, new_user, parts

ME = "/api/v1/app/users/me"
OUTBOX_ADMIN = "/admin/notifications/emailmessage/"

pytestmark = pytest.mark.django_db


def first_request(api: Any, *, subject: str, email: str, name: str | None = None) -> Any:
    token = mint_development_token(email=email, subject=subject, full_name=name)
    return api.with_token(token).get(ME)


def test_a_new_user_gets_a_welcome_email_with_text_and_html_through_smtp(
    api, unique_subject, smtp_settings: SmtpSink, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = first_request(
            api, subject=unique_subject, email="ada@example.com", name="Ada Lovelace"
        )
    assert response.status_code == 200

    [received] = smtp_settings.messages
    assert received["To"] == "ada@example.com"
    assert received["From"] == "Groundwork <noreply@localhost>"
    assert received["Subject"] == "Welcome to Groundwork"
    assert received.get_content_type() == "multipart/alternative"
    bodies = parts(received)
    assert set(bodies) == {"text/plain", "text/html"}
    assert "Hello Ada Lovelace," in bodies["text/plain"]
    assert "<strong>Groundwork</strong>" in bodies["text/html"]
    assert "<html" not in bodies["text/plain"]

    row = EmailMessage.objects.get()
    assert (row.user_id, row.to, row.template, row.status, row.attempts, row.error) == (
        unique_subject,
        "ada@example.com",
        "welcome",
        EmailMessage.Status.SENT,
        1,
        "",
    )
    assert row.sent_at is not None and row.context == {"name": "Ada Lovelace"}
    usage = api.get("/api/v1/app/usage/summary").json()
    assert usage["metrics"]["emails_sent"] == 1


def test_the_welcome_email_is_sent_once(
    api, unique_subject, smtp_settings: SmtpSink, django_capture_on_commit_callbacks
):
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            assert (
                first_request(api, subject=unique_subject, email="bo@example.com").status_code
                == 200
            )
    assert len(smtp_settings.messages) == 1
    assert EmailMessage.objects.filter(template="welcome").count() == 1


def test_a_user_without_an_email_gets_no_welcome(
    api, unique_subject, django_capture_on_commit_callbacks
):
    token = mint_development_token(email="", subject=unique_subject)
    with django_capture_on_commit_callbacks(execute=True):
        assert api.with_token(token).get(ME).status_code == 200
    assert User.objects.filter(pk=unique_subject).exists()
    assert EmailMessage.objects.count() == 0 and mail.outbox == []


def test_a_user_created_by_the_identity_provider_gets_one_welcome(
    smtp_settings: SmtpSink, django_capture_on_commit_callbacks
):
    for name in ("Cy", "Cy Young"):  # created, then updated
        with django_capture_on_commit_callbacks(execute=True):
            user_sync_from_identity(
                user_id="user_cy",
                email="cy@example.com",
                full_name=name,
                avatar_url=None,
                synced_at=None,
            )
    [received] = smtp_settings.messages
    assert received["To"] == "cy@example.com"
    assert "Hello Cy," in parts(received)["text/plain"]


def test_a_sent_email_is_not_sent_again_when_its_task_runs_twice(
    smtp_settings: SmtpSink, django_capture_on_commit_callbacks
):
    user = new_user()
    with django_capture_on_commit_callbacks(execute=True):
        row = email_send(to=user.email, template="welcome", context={}, user=user)
    assert send_email.delay(str(row.pk)).get() == "already_sent"
    assert len(smtp_settings.messages) == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (EmailMessage.Status.SENT, 1)


def test_a_refused_attempt_is_retried_and_then_sent(
    smtp_settings: SmtpSink, eager_retries, django_capture_on_commit_callbacks
):
    smtp_settings.refuse_next = 2
    user = new_user()
    with django_capture_on_commit_callbacks(execute=True):
        row = email_send(to=user.email, template="welcome", context={}, user=user)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.error) == (EmailMessage.Status.SENT, 3, "")
    assert len(smtp_settings.messages) == 1


def test_after_the_last_retry_the_email_is_failed_and_staff_can_retry_it(
    settings, smtp_sink: SmtpSink, staff, client, eager_retries, django_capture_on_commit_callbacks
):
    # Nothing listens on this port: every attempt is refused.
    settings.EMAIL_BACKEND = settings.EMAIL_PROVIDERS["smtp"]
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = (
        "127.0.0.1",
        free_port(),
        False,
    )
    user = new_user()
    with django_capture_on_commit_callbacks(execute=True):
        row = email_send(to=user.email, template="welcome", context={}, user=user)
    row.refresh_from_db()
    assert row.status == EmailMessage.Status.FAILED
    assert row.attempts == settings.EMAIL_SEND_MAX_RETRIES + 1
    assert row.error.startswith("ConnectionRefusedError")
    assert row.sent_at is None

    listed = client.get(OUTBOX_ADMIN, {"status__exact": "failed"})
    assert listed.status_code == 200 and user.email in listed.content.decode()
    assert client.get(f"{OUTBOX_ADMIN}{row.pk}/change/").status_code == 200

    # The provider is back: staff queue the email again from the admin.
    settings.EMAIL_PORT = smtp_sink.port
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            OUTBOX_ADMIN, {"action": "retry_emails", "_selected_action": [str(row.pk)]}, follow=True
        )
    assert "1 email(s) queued again." in response.content.decode()
    row.refresh_from_db()
    assert (row.status, row.error) == (EmailMessage.Status.SENT, "")
    assert [message["To"] for message in smtp_sink.messages] == [user.email]


def test_the_retry_action_leaves_emails_that_did_not_fail(
    smtp_settings: SmtpSink, staff, client, django_capture_on_commit_callbacks
):
    user = new_user()
    with django_capture_on_commit_callbacks(execute=True):
        row = email_send(to=user.email, template="welcome", context={}, user=user)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            OUTBOX_ADMIN, {"action": "retry_emails", "_selected_action": [str(row.pk)]}, follow=True
        )
    assert "0 email(s) queued again." in response.content.decode()
    assert len(smtp_settings.messages) == 1


def test_an_api_provider_gets_the_rendered_email_and_its_message_id_is_kept(
    settings, django_capture_on_commit_callbacks
):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"
    user = new_user(full_name="Di")
    with django_capture_on_commit_callbacks(execute=True):
        row = email_send(to=user.email, template="welcome", context={"name": "Di"}, user=user)
    [sent] = mail.outbox
    params = sent.anymail_test_params
    assert params["to"][0].addr_spec == user.email
    assert params["subject"] == "Welcome to Groundwork"
    assert "Hello Di," in params["text_body"]
    assert "<strong>Groundwork</strong>" in params["html_body"]
    row.refresh_from_db()
    assert row.status == EmailMessage.Status.SENT
    assert row.provider_message_id == str(sent.anymail_status.message_id)


class FakeResend(FakeServer):
    """Resend's POST /emails, answering as Resend does."""

    def answer(self, request: Request) -> Answer:
        return 200, {"id": "re_4ef9a417-02e9-4d39-ad75-9611e0fcc33c"}


def test_resend_is_called_over_http_and_its_message_id_is_recorded(
    settings, django_capture_on_commit_callbacks
):
    with FakeResend() as resend:
        settings.EMAIL_BACKEND = settings.EMAIL_PROVIDERS["resend"]
        settings.ANYMAIL = {
            **settings.ANYMAIL,
            "RESEND_API_KEY": "re_test_key",
            "RESEND_API_URL": f"{resend.url}/",
        }
        user = new_user()
        with django_capture_on_commit_callbacks(execute=True):
            row = email_send(to=user.email, template="welcome", context={}, user=user)
    [request] = resend.requests
    call = {"path": request.path, "auth": request.headers["authorization"], **request.json()}
    assert (call["path"], call["auth"], call["to"], call["subject"]) == (
        "/emails",
        "Bearer re_test_key",
        [user.email],
        "Welcome to Groundwork",
    )
    assert call["text"] and call["html"]
    row.refresh_from_db()
    assert (row.status, row.provider_message_id) == (
        EmailMessage.Status.SENT,
        "re_4ef9a417-02e9-4d39-ad75-9611e0fcc33c",
    )


def test_an_unknown_template_is_refused():
    with pytest.raises(ValueError, match="Unknown email template"):
        email_send(to="x@example.com", template="nope", context={})
    assert EmailMessage.objects.count() == 0


def test_erasing_a_user_removes_their_emails(user, django_capture_on_commit_callbacks):
    from accounts.services import user_erase

    email_send(to=user.email, template="welcome", context={}, user=user)
    other = email_send(to="staff@example.com", template="welcome", context={})
    user_erase(user_id=user.pk)
    assert list(EmailMessage.objects.values_list("pk", flat=True)) == [other.pk]


def test_an_email_whose_send_was_lost_is_sent_by_the_sweep(
    smtp_settings: SmtpSink, django_capture_on_commit_callbacks
):
    # Written, but the commit hook that sends it never ran (the broker was down).
    user = new_user()
    lost = email_send(to=user.email, template="welcome", context={}, user=user)
    email_send(to="recent@example.com", template="welcome", context={})
    retrying = email_send(to="retrying@example.com", template="welcome", context={})
    EmailMessage.objects.filter(pk=retrying.pk).update(attempts=1)
    EmailMessage.objects.filter(pk__in=[lost.pk, retrying.pk]).update(
        updated_at=timezone.now() - timedelta(minutes=16)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert send_unsent_emails.delay().get() == 1

    assert [message["To"] for message in smtp_settings.messages] == [user.email]
    statuses = dict(EmailMessage.objects.values_list("to", "status"))
    assert statuses == {
        user.email: EmailMessage.Status.SENT,
        "recent@example.com": EmailMessage.Status.QUEUED,
        # Its retry is scheduled with the broker; the sweep takes only rows never attempted.
        "retrying@example.com": EmailMessage.Status.QUEUED,
    }
    with django_capture_on_commit_callbacks(execute=True):
        assert send_unsent_emails.delay().get() == 0


def test_the_sweep_runs_every_five_minutes(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["notifications-send-unsent-emails"]
    assert (entry["task"], entry["schedule"]) == ("notifications.tasks.send_unsent_emails", 300.0)
