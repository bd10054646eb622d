"""The email outbox: every transactional email is a row first, then sent by a Celery task.

`email_send` renders the subject, text and HTML from
`notifications/templates/emails/<template>.{txt,html}` (which extend `emails/base.*`), records
the row (`queued`) and, once the surrounding transaction commits, enqueues
`notifications.tasks.send_email`. The task calls `email_deliver`, which sends the row through
the configured backend (`EMAIL_PROVIDER`) with the row locked, so a row is sent at most once
however often the task runs; a failed attempt is recorded and retried with back-off, and after
the last one the row is `failed` (visible in the admin, which can queue it again with
`emails_retry`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from functools import partial
from typing import Any, Literal

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template import engines
from django.template.loader import render_to_string
from django.utils import timezone

from config.celery import enqueue_stored_work
from config.metrics import record_email
from notifications.models import EmailMessage
from usage.services import usage_record

logger = logging.getLogger(__name__)

# Each template's subject (a Django template string rendered with the email's context).
SUBJECTS: dict[str, str] = {
    "welcome": "Welcome to {{ product_name }}",
    "export_ready": "Your {{ product_name }} data export is ready",
    "subscription_changed": "Your {{ product_name }} plan is now {{ plan_name }}",
    "daily_report": "{{ product_name }} daily report for {{ day }}",
}
TEMPLATES = tuple(SUBJECTS)
# Longest error text kept on a row.
MAX_ERROR_LENGTH = 2000
# Most rows one sweep re-enqueues (the next sweep takes the rest).
SWEEP_BATCH = 500

DeliveryOutcome = Literal["sent", "already_sent", "failed", "retry", "missing"]


def _render(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text, html) of `template` with `context`."""
    if template not in SUBJECTS:
        raise ValueError(f"Unknown email template {template!r}; one of {', '.join(TEMPLATES)}")
    full = {"product_name": settings.EMAIL_PRODUCT_NAME, **context}
    subject_template = engines["django"].from_string(
        "{% autoescape off %}" + SUBJECTS[template] + "{% endautoescape %}"
    )
    subject = " ".join(subject_template.render(full).split())
    text = render_to_string(f"emails/{template}.txt", full).strip() + "\n"
    html = render_to_string(f"emails/{template}.html", full)
    return subject, text, html


def email_send(
    *, to: str, template: str, context: dict[str, Any], user: Any = None
) -> EmailMessage:
    """Queue an email: render it, record the outbox row, and send it after commit.

    `context` must be JSON-serialisable (dates, decimals and UUIDs are fine): it is stored on the
    row. `user` is whom the email concerns (counted in their `emails_sent` usage). Raises
    ValueError for an unknown template.
    """
    subject, text, html = _render(template, context)
    message = EmailMessage.objects.create(
        user=user,
        to=to,
        template=template,
        subject=subject[:998],
        context=context,
        text_body=text,
        html_body=html,
    )
    _enqueue_after_commit(str(message.pk))
    return message


def _enqueue_after_commit(message_id: str) -> None:
    from notifications.tasks import send_email

    transaction.on_commit(partial(enqueue_stored_work, send_email, message_id))


def emails_requeue_unsent(*, older_than: timedelta, limit: int = SWEEP_BATCH) -> int:
    """Send the task again for queued emails never attempted `older_than` after they were
    written (their send was lost: the broker was down, or the process died before the commit
    hook ran); returns how many.

    Touched, so the next sweep leaves them alone while their task waits in the queue. A second
    task for one row is harmless: delivery locks the row and sends it once.
    """
    now = timezone.now()
    with transaction.atomic():
        message_ids = list(
            EmailMessage.objects.select_for_update(skip_locked=True)
            .filter(status=EmailMessage.Status.QUEUED, attempts=0, updated_at__lt=now - older_than)
            .order_by("updated_at")
            .values_list("pk", flat=True)[:limit]
        )
        EmailMessage.objects.filter(pk__in=message_ids).update(updated_at=now)
        for message_id in message_ids:
            _enqueue_after_commit(str(message_id))
    if message_ids:
        logger.warning("email sweep re-enqueued %d unsent email(s)", len(message_ids))
    return len(message_ids)


def email_deliver(*, message_id: str, final_attempt: bool) -> DeliveryOutcome:
    """Send one outbox row now (the task's body); idempotent.

    A row already `sent` (or gone) is left alone. On failure the attempt and its error are
    recorded; unless `final_attempt`, the error is raised again for the task to retry, otherwise
    the row becomes `failed`. The row stays locked while the provider is called, so two runs of
    the task for one row send it once.
    """
    failure: Exception | None = None
    with transaction.atomic():
        message = EmailMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None:
            return "missing"
        if message.status == EmailMessage.Status.SENT:
            return "already_sent"
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text_body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[message.to],
        )
        if message.html_body:
            email.attach_alternative(message.html_body, "text/html")
        message.attempts += 1
        try:
            email.send(fail_silently=False)
        except Exception as exc:  # noqa: BLE001 - backends raise many types; recorded, re-raised
            failure = exc
            message.error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH]
            if final_attempt:
                message.status = EmailMessage.Status.FAILED
            message.save(update_fields=["attempts", "error", "status", "updated_at"])
        else:
            message.status = EmailMessage.Status.SENT
            message.sent_at = timezone.now()
            message.provider_message_id = _provider_message_id(email)
            message.error = ""
            message.save(
                update_fields=[
                    "attempts",
                    "status",
                    "sent_at",
                    "provider_message_id",
                    "error",
                    "updated_at",
                ]
            )
    if failure is None:
        record_email(template=message.template, status="sent")
        if message.user_id is not None:
            usage_record(user_id=str(message.user_id), metric="emails_sent")
        logger.info(
            "email sent",
            extra={"email_id": str(message.pk), "template": message.template},
        )
        return "sent"
    if final_attempt:
        record_email(template=message.template, status="failed")
        logger.error(
            "email failed after %s attempt(s): %s",
            message.attempts,
            message.error,
            extra={"email_id": str(message.pk), "template": message.template},
        )
        return "failed"
    logger.warning(
        "email attempt failed, will retry: %s",
        message.error,
        extra={"email_id": str(message.pk), "template": message.template},
    )
    raise failure


def _provider_message_id(email: EmailMultiAlternatives) -> str:
    """The provider's id of a sent message, when its backend reports one (anymail)."""
    status = getattr(email, "anymail_status", None)
    message_id = getattr(status, "message_id", None) if status is not None else None
    if message_id is None:
        return ""
    if isinstance(message_id, set):  # one id per recipient when they differ
        return ",".join(sorted(str(item) for item in message_id))[:255]
    return str(message_id)[:255]


def emails_retry(*, messages: Iterable[EmailMessage]) -> int:
    """Queue failed emails again (the admin's retry action); returns how many were queued."""
    count = 0
    with transaction.atomic():
        ids = [message.pk for message in messages if message.status == EmailMessage.Status.FAILED]
        for message in EmailMessage.objects.select_for_update().filter(
            pk__in=ids, status=EmailMessage.Status.FAILED
        ):
            message.status = EmailMessage.Status.QUEUED
            message.save(update_fields=["status", "updated_at"])
            _enqueue_after_commit(str(message.pk))
            count += 1
    return count


def email_erase_for_user(*, user_id: str) -> int:
    """Delete the outbox rows about a user (GDPR erasure: they hold the address and content)."""
    deleted, _ = EmailMessage.objects.filter(user_id=user_id).delete()
    return deleted
