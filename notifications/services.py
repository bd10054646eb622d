"""The email outbox: every transactional email is a row first, then sent by a Celery task.

`email_send` renders the subject, text and HTML from
`notifications/templates/emails/<template>.{txt,html}` (which extend `emails/base.*`), records
the row (`queued`) and, once the surrounding transaction commits, enqueues
`notifications.tasks.send_email`. The task calls `email_deliver`, which sends the row through
the configured backend (`EMAIL_PROVIDER`) with the row locked, so a row is sent at most once
however often the task runs; a failed attempt is recorded and retried with back-off, and after
the last one the row is `failed` (visible in the admin, which can queue it again with
`emails_retry`).

Delivery status: the provider's tracking webhook (`notifications.intake`, stored in the webhook
ledger, handled by `notifications.events`) reports what became of a sent email:
`email_delivery_record` marks the row, and a permanent bounce or a spam complaint puts the
address on the suppression list (`email_suppress`). Emails to a suppressed address are recorded
as `suppressed` and never sent, until staff clear the entry (`email_suppressions_clear`).
`emails_purge_old` deletes old rows (the outbox's retention).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Literal

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template import engines
from django.template.loader import render_to_string
from django.utils import timezone

from config.celery import enqueue_stored_work
from config.metrics import record_email
from config.models import delete_in_batches
from notifications.models import EmailMessage, EmailSuppression
from notifications.selectors import email_address_normalize, email_suppression_get
from usage.services import usage_record
from webhooks.models import WebhookEvent
from webhooks.services import webhook_events_scrub

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

DeliveryOutcome = Literal["sent", "already_sent", "failed", "retry", "missing", "suppressed"]
# The ledger's provider names of the tracking webhooks (EMAIL_PROVIDER's values).
TRACKING_PROVIDERS = ("postmark", "resend", "sendgrid", "ses")
# How final a delivery status is: a report never replaces a more final one.
DELIVERY_RANK: dict[str, int] = {
    EmailMessage.DeliveryStatus.UNKNOWN: 0,
    EmailMessage.DeliveryStatus.DEFERRED: 1,
    EmailMessage.DeliveryStatus.SOFT_BOUNCED: 2,
    EmailMessage.DeliveryStatus.DELIVERED: 3,
    EmailMessage.DeliveryStatus.REJECTED: 3,
    EmailMessage.DeliveryStatus.BOUNCED: 4,
    EmailMessage.DeliveryStatus.COMPLAINED: 5,
}


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

    An address on the suppression list gets no email: the row is recorded `suppressed`, with
    the reason in `error`, and nothing is sent.
    """
    subject, text, html = _render(template, context)
    suppression = email_suppression_get(address=to)
    status = EmailMessage.Status.QUEUED if suppression is None else EmailMessage.Status.SUPPRESSED
    message = EmailMessage.objects.create(
        user=user,
        to=to,
        template=template,
        subject=subject[:998],
        context=context,
        text_body=text,
        html_body=html,
        status=status,
        error="" if suppression is None else _suppressed_because(suppression),
    )
    if suppression is None:
        _enqueue_after_commit(str(message.pk))
    else:
        _log_suppressed(message)
    return message


def _suppressed_because(suppression: EmailSuppression) -> str:
    """The `error` of an email not sent to a suppressed address."""
    by = f" by {suppression.provider}" if suppression.provider else ""
    return (
        f"Not sent: {suppression.address} is suppressed ({suppression.get_reason_display()} "
        f"reported{by} on {suppression.suppressed_at:%Y-%m-%d})."
    )[:MAX_ERROR_LENGTH]


def _log_suppressed(message: EmailMessage) -> None:
    record_email(template=message.template, status="suppressed")
    logger.info(
        "email suppressed: %s",
        message.error,
        extra={"email_id": str(message.pk), "template": message.template},
    )


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

    A row already `sent` or `suppressed` (or gone) is left alone; a row whose address was
    suppressed since it was queued becomes `suppressed`, unsent. On failure the attempt and its
    error are recorded; unless `final_attempt`, the error is raised again for the task to retry,
    otherwise the row becomes `failed`. The row stays locked while the provider is called, so
    two runs of the task for one row send it once.
    """
    failure: Exception | None = None
    with transaction.atomic():
        message = EmailMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None:
            return "missing"
        if message.status == EmailMessage.Status.SENT:
            return "already_sent"
        if message.status == EmailMessage.Status.SUPPRESSED:
            return "suppressed"
        suppression = email_suppression_get(address=message.to)
        if suppression is not None:
            message.status = EmailMessage.Status.SUPPRESSED
            message.error = _suppressed_because(suppression)
            message.save(update_fields=["status", "error", "updated_at"])
            _log_suppressed(message)
            return "suppressed"
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
    """Delete the outbox rows about a user (GDPR erasure: they hold the address and content),
    and remove the personal fields (the address, the bounce's text) from the provider's
    tracking events about those emails in the webhook ledger.

    The suppression list keeps the user's address: it records that mail to it bounced or was
    refused as spam, and sending to it again (should the address come back) would repeat that.
    """
    rows = EmailMessage.objects.filter(user_id=user_id)
    message_ids = [value for value in rows.values_list("provider_message_id", flat=True) if value]
    for provider in TRACKING_PROVIDERS:
        webhook_events_scrub(provider=provider, subjects=message_ids)
    deleted, _ = rows.delete()
    return deleted


def email_delivery_record(
    *,
    provider_message_id: str,
    delivery_status: str,
    detail: str,
    occurred_at: datetime,
) -> list[EmailMessage]:
    """Record what the provider reported about the emails it knows as `provider_message_id`;
    returns the rows that changed.

    A report less final than the row's current one (`DELIVERY_RANK`: a late `deferred` after
    `delivered`) leaves the row as it is. Idempotent: the same report twice changes nothing the
    second time. No row (another system's email, or one deleted since) is not an error.
    """
    if delivery_status not in DELIVERY_RANK or not provider_message_id:
        raise ValueError(f"Unknown delivery status {delivery_status!r}")
    rank = DELIVERY_RANK[delivery_status]
    changed = []
    for message in EmailMessage.objects.select_for_update().filter(
        provider_message_id=provider_message_id
    ):
        if DELIVERY_RANK.get(message.delivery_status, 0) > rank:
            continue
        message.delivery_status = delivery_status
        message.delivery_detail = detail[:MAX_ERROR_LENGTH]
        message.delivery_updated_at = occurred_at
        message.save(
            update_fields=[
                "delivery_status",
                "delivery_detail",
                "delivery_updated_at",
                "updated_at",
            ]
        )
        changed.append(message)
    return changed


def email_suppress(
    *,
    address: str,
    reason: str,
    provider: str,
    detail: str,
    occurred_at: datetime,
    email: EmailMessage | None = None,
    webhook_event: WebhookEvent | None = None,
) -> bool:
    """Put `address` on the suppression list; True when it was not on it yet.

    An address already suppressed keeps its first entry (the reason staff see is the first
    one reported). Safe under concurrent calls for one address (the insert ignores a conflict).
    """
    normalised = email_address_normalize(address)
    if not normalised:
        return False
    created = EmailSuppression.objects.bulk_create(
        [
            EmailSuppression(
                address=normalised,
                reason=reason,
                provider=provider,
                detail=detail[:MAX_ERROR_LENGTH],
                suppressed_at=occurred_at,
                email=email,
                webhook_event=webhook_event,
            )
        ],
        ignore_conflicts=True,
    )
    # With ignore_conflicts the returned object does not say whether a row was inserted.
    is_new = EmailSuppression.objects.filter(pk=created[0].pk).exists()
    if is_new:
        logger.warning("email address suppressed (%s reported by %s)", reason, provider)
    return is_new


def email_suppressions_clear(*, suppressions: Iterable[EmailSuppression]) -> int:
    """Allow sending to these addresses again (the admin's action); returns how many were
    removed. Emails already recorded `suppressed` stay as they are: only new ones are sent."""
    ids = [suppression.pk for suppression in suppressions]
    deleted, _ = EmailSuppression.objects.filter(pk__in=ids).delete()
    if deleted:
        logger.info("email suppression cleared for %d address(es)", deleted)
    return deleted


def emails_purge_old(
    *, older_than: timedelta, failed_older_than: timedelta, batch_size: int = SWEEP_BATCH
) -> int:
    """Delete outbox rows past their retention, in batches; returns how many.

    Rows `sent` or `suppressed` go `older_than` after they were written; `failed` ones, and
    sent ones the provider reported bounced, complained about or rejected, after
    `failed_older_than`. Queued rows are never deleted (they are still to be sent). Rows another
    transaction holds (being sent right now) are left for the next run.
    """
    now = timezone.now()
    troubled = [
        EmailMessage.DeliveryStatus.BOUNCED,
        EmailMessage.DeliveryStatus.COMPLAINED,
        EmailMessage.DeliveryStatus.REJECTED,
    ]
    settled = Q(status=EmailMessage.Status.SUPPRESSED) | (
        Q(status=EmailMessage.Status.SENT) & ~Q(delivery_status__in=troubled)
    )
    kept_longer = Q(status=EmailMessage.Status.FAILED) | Q(
        status=EmailMessage.Status.SENT, delivery_status__in=troubled
    )
    expired = (settled & Q(created_at__lt=now - older_than)) | (
        kept_longer & Q(created_at__lt=now - failed_older_than)
    )
    total = delete_in_batches(
        EmailMessage.objects.filter(expired), order_by="created_at", batch_size=batch_size
    )
    if total:
        logger.info("email retention deleted %d outbox row(s)", total)
    return total
