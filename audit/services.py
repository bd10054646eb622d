"""Writes to the audit log: record events, scrub an erased person's data, delete old events.

Events are never changed or deleted one by one (`AuditEvent.save` refuses updates, the admin has
no change or delete): the only writes after the insert are the two below, both queryset updates
and deletes made here.

- `audit_events_scrub_person` (called by the user's erasure): the person's events keep their
  action, target type and time, and lose what identifies the person.
- `audit_events_delete_old` (the daily retention task): events older than AUDIT_RETENTION_DAYS.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from audit.models import AuditEvent
from config.observability import impersonator_id_var, request_id_var

# Field names whose values never reach the log, whatever model they come from: a name is secret
# when one of its words (split on "_", digits dropped: `password1`) is one of these...
SECRET_WORDS = frozenset(
    {"password", "passwd", "secret", "token", "key", "apikey", "signature", "credential", "hash"}
)
# ...or when it contains one of these anywhere (`client_secret`, `webhooksecret`, `apikey`).
SECRET_PARTS = ("password", "passwd", "secret", "apikey", "credential", "privatekey")
MASK = "********"
USER_AGENT_MAX_LENGTH = 512
LABEL_MAX_LENGTH = 320
# What an erased person's events name as actor (or impersonator) instead of their email.
ERASED_LABEL = "erased user"
# Target types under which events about a user are recorded: domain events use the model's
# name (`user`), the admin's events its label (`accounts.user`).
EMAIL_TARGET_TYPE = "email"
# Rows inserted per statement by `audit_record_many` and deleted per transaction by the retention.
BATCH_SIZE = 1000


def _is_secret(field: str) -> bool:
    name = field.lower()
    if any(part in name for part in SECRET_PARTS):
        return True
    return any(word.strip("0123456789") in SECRET_WORDS for word in name.split("_"))


def _masked(changes: Mapping[str, Any]) -> dict[str, list[Any]]:
    return {
        field: [MASK, MASK] if _is_secret(field) else [before, after]
        for field, (before, after) in changes.items()
    }


def _label(user: Any) -> str:
    """How an event names a user: their email, else their id."""
    if user is None:
        return ""
    return str(getattr(user, "email", "") or user.pk)[:LABEL_MAX_LENGTH]


def user_target_types() -> tuple[str, str]:
    """The target types of events about a user: the model's name and its label."""
    label = settings.AUTH_USER_MODEL.lower()
    return (label.rsplit(".", 1)[-1], label)


@dataclass(frozen=True)
class _Context:
    actor: Any
    actor_type: str
    impersonator: Any
    request: HttpRequest | None


_context: ContextVar[_Context | None] = ContextVar("audit_context", default=None)


@contextmanager
def audit_context(
    *,
    actor: Any,
    actor_type: str,
    impersonator: Any = None,
    request: HttpRequest | None = None,
) -> Iterator[None]:
    """Who is acting, for the events recorded inside the block without an actor of their own.

    The staff console wraps each admin request in one, so a service called from the admin (an
    entitlement saved by staff) records the staff member and the request's address.
    """
    token = _context.set(_Context(actor, actor_type, impersonator, request))
    try:
        yield
    finally:
        _context.reset(token)


def _event(
    *,
    action: str,
    actor: Any,
    actor_type: str | None,
    actor_label: str | None,
    impersonator: Any,
    target_type: str,
    target_id: Any,
    changes: Mapping[str, Any] | None,
    request: HttpRequest | None,
) -> AuditEvent:
    context = _context.get()
    if context is not None:
        if actor is None and actor_type is None:
            actor, actor_type = context.actor, context.actor_type
            impersonator = impersonator if impersonator is not None else context.impersonator
        request = request if request is not None else context.request
    if impersonator is None and (staff_id := impersonator_id_var.get()):
        # Recorded during a request made with an impersonation token (accounts.authentication):
        # whatever the user appears to do there, the staff member did.
        impersonator = get_user_model().objects.filter(pk=staff_id).first()
    ip = user_agent = None
    if request is not None:
        ip = request.META.get("REMOTE_ADDR") or None
        user_agent = request.headers.get("User-Agent", "")[:USER_AGENT_MAX_LENGTH]
    return AuditEvent(
        action=action,
        actor=actor,
        actor_type=actor_type or AuditEvent.ActorType.SYSTEM,
        actor_label=(actor_label if actor_label is not None else _label(actor))[:LABEL_MAX_LENGTH],
        impersonator=impersonator,
        impersonator_label=_label(impersonator),
        target_type=target_type,
        target_id=str(target_id),
        changes=_masked(changes or {}),
        ip=ip,
        user_agent=user_agent or "",
        request_id=request_id_var.get() or "",
    )


def audit_record(
    *,
    action: str,
    actor: Any = None,
    actor_type: str | None = None,
    actor_label: str | None = None,
    impersonator: Any = None,
    target_type: str = "",
    target_id: Any = "",
    changes: Mapping[str, tuple[Any, Any]] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Append one event to the audit log and return it.

    `changes` maps each changed field to `(before, after)`; values of secret-looking fields
    (password, token, key, secret, signature, credential, hash) are masked. With `request`, the
    client's address and user agent are kept; the request id comes from the current request or
    task either way. `actor_label` defaults to the actor's email (a provider's events name the
    provider). Without `actor` and `actor_type`, the actor is the one of the surrounding
    `audit_context` (the staff member of an admin request), else the system; without `request`,
    the context's request. Call it inside the transaction of the write it records, so both
    commit or neither does.
    """
    event = _event(
        action=action,
        actor=actor,
        actor_type=actor_type,
        actor_label=actor_label,
        impersonator=impersonator,
        target_type=target_type,
        target_id=target_id,
        changes=changes,
        request=request,
    )
    event.save(force_insert=True)
    return event


def audit_record_many(
    *,
    action: str,
    targets: Iterable[tuple[str, Any, Mapping[str, tuple[Any, Any]] | None]],
    actor: Any = None,
    actor_type: str | None = None,
    actor_label: str | None = None,
    impersonator: Any = None,
    request: HttpRequest | None = None,
) -> int:
    """`audit_record` of one action on many targets, each `(target_type, target_id, changes)`,
    inserted in batches; returns how many events were recorded."""
    events = [
        _event(
            action=action,
            actor=actor,
            actor_type=actor_type,
            actor_label=actor_label,
            impersonator=impersonator,
            target_type=target_type,
            target_id=target_id,
            changes=changes,
            request=request,
        )
        for target_type, target_id, changes in targets
    ]
    AuditEvent.objects.bulk_create(events, batch_size=BATCH_SIZE)
    return len(events)


def audit_events_scrub_person(*, user_id: str, emails: Iterable[str] = ()) -> int:
    """Remove a person's data from the audit log (their erasure); returns the events touched.

    Every event keeps its action, actor type, target type, time and request id. Then:
    - events the person did or impersonated: the actor (impersonator) is unlinked and labelled
      `erased user`;
    - events about the person (target a user with their id, or an `email` target with one of
      `emails`): the target id becomes a pseudonym, drawn anew for each erasure and shared by
      all their events (they still read as one history, linked to no one), and every value in
      `changes` is masked (the field names stay);
    - all of these lose the client's address and user agent.
    Idempotent; runs inside the caller's transaction (the erasure's).
    """
    emails = [email.strip().lower() for email in emails if email and email.strip()]
    about = Q(target_type__in=user_target_types(), target_id=str(user_id))
    if emails:
        about |= Q(target_type=EMAIL_TARGET_TYPE, target_id__in=emails)
    pseudonym = f"erased-{uuid.uuid4().hex[:12]}"
    events = AuditEvent.objects.all()
    with transaction.atomic():
        touched = set(
            events.filter(Q(actor_id=user_id) | Q(impersonator_id=user_id) | about).values_list(
                "pk", flat=True
            )
        )
        events.filter(actor_id=user_id).update(actor=None, actor_label=ERASED_LABEL)
        events.filter(impersonator_id=user_id).update(
            impersonator=None, impersonator_label=ERASED_LABEL
        )
        for pk, changes in events.filter(about).values_list("pk", "changes").iterator():
            events.filter(pk=pk).update(
                target_id=pseudonym,
                changes={field: [MASK, MASK] for field in changes or {}},
            )
        events.filter(pk__in=touched).update(ip=None, user_agent="")
    return len(touched)


def audit_events_delete_old(*, older_than: timedelta, batch_size: int = BATCH_SIZE) -> int:
    """Delete events recorded more than `older_than` ago (the retention); returns how many.

    The only way events are deleted. Runs in batches of `batch_size` rows, one transaction each,
    oldest first, so a long backlog never holds a long lock.
    """
    cutoff = timezone.now() - older_than
    total = 0
    while True:
        with transaction.atomic():
            batch = list(
                AuditEvent.objects.filter(created_at__lt=cutoff)
                .order_by("created_at", "pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if batch:
                AuditEvent.objects.filter(pk__in=batch).delete()
        total += len(batch)
        if len(batch) < batch_size:
            return total
