"""Writes to entitlements, and the user's plan derived from them.

Every write locks the user's row first, so the changes to one user's entitlements happen one at a
time and each ends with `user_sync_subscription` seeing all of them; the user's
`subscription_plan`/`subscription_status` are then written with `User.save()`, which also drops
the cached user.

Every write to an entitlement is recorded in the audit log (target: the user) by the access it
changes: `entitlement.grant` when it starts granting the plan (a new purchase, a renewal after an
end), `entitlement.revoke` when it stops (canceled, expired, deleted), `entitlement.change`
otherwise (plan, period end, renewal); with the plan, status, period end and renewal before and
after. The actor is the provider for Stripe, App Store and Google Play, the staff member for a
manual grant (and for changes made in the admin), else the system.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from audit.services import audit_record
from billing.models import Entitlement
from billing.realtime import billing_updated_on_commit
from billing.selectors import NO_SUBSCRIPTION_STATUS, effective_entitlement, lapsed_q
from config.errors import AuthorizationError, BadRequestError, ConflictError, ValidationError
from notifications.services import email_send

logger = logging.getLogger(__name__)

# Users handled per run of `entitlements_expire_lapsed`; the next run takes the rest.
EXPIRE_BATCH = 500
# What the audit log shows of an entitlement before and after a write.
AUDITED_FIELDS = ("plan", "status", "current_period_end", "cancel_at_period_end")
# Sources whose writes the audit log attributes to the provider.
PROVIDER_SOURCES = (Entitlement.Source.STRIPE, Entitlement.Source.APPLE, Entitlement.Source.GOOGLE)


def _audited_values(entitlement: Entitlement) -> dict[str, Any]:
    values = {name: getattr(entitlement, name) for name in AUDITED_FIELDS}
    end = values["current_period_end"]
    values["current_period_end"] = end.astimezone(UTC).isoformat() if end is not None else None
    return values


def _entitlement_audit(
    entitlement: Entitlement,
    *,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    actor: User | None = None,
    actor_type: str | None = None,
    actor_label: str | None = None,
) -> None:
    """Record one write to `entitlement` (`before`/`after`: `_audited_values`, None for a row
    created or deleted) as its grant, revoke or change, unless nothing audited changed. Without
    an actor, the audit context's (staff in the admin) or the system."""
    if before is None or after is None:
        fields = list(AUDITED_FIELDS)
    else:
        fields = [name for name in AUDITED_FIELDS if before[name] != after[name]]
        if not fields:
            return
    was_entitled = before is not None and before["status"] in Entitlement.ENTITLED_STATUSES
    is_entitled = after is not None and after["status"] in Entitlement.ENTITLED_STATUSES
    if is_entitled and not was_entitled:
        action = "entitlement.grant"
    elif was_entitled and not is_entitled:
        action = "entitlement.revoke"
    else:
        action = "entitlement.change"
    # Every entitlement write of every source passes here: the user's clients hear of it.
    billing_updated_on_commit(user_id=entitlement.user_id)
    # Which row, from which source: on both sides, or only the side where the row exists.
    identity = {"entitlement": entitlement.pk, "source": str(entitlement.source)}
    audit_record(
        action=action,
        actor=actor,
        actor_type=actor_type,
        actor_label=actor_label,
        target_type="user",
        target_id=entitlement.user_id,
        changes={
            **{
                name: (value if before is not None else None, value if after is not None else None)
                for name, value in identity.items()
            },
            **{name: ((before or {}).get(name), (after or {}).get(name)) for name in fields},
        },
    )


def _source_actor(source: str) -> dict[str, Any]:
    """The audit log's actor of a write reported by `source`: the provider (none for manual)."""
    if source not in PROVIDER_SOURCES:
        return {}
    return {"actor_type": AuditEvent.ActorType.PROVIDER, "actor_label": str(source)}


def _lock_user(user: User) -> User:
    return User.objects.select_for_update().get(pk=user.pk)


def new_manual_external_id() -> str:
    """The external id of a manual grant (manual grants have no id elsewhere)."""
    return f"manual_{uuid.uuid4().hex}"


def user_sync_subscription(*, user: User) -> User:
    """Copy the effective entitlement's plan and status onto the user (and `user` in memory).

    Without an entitlement that grants access: plan `free`, status `none`. Writes only when
    something changed, through `save()` so the user cache forgets the old values, and then
    emails the user (`subscription_changed`) once the transaction commits.
    """
    with transaction.atomic():
        locked = _lock_user(user)
        entitlement = effective_entitlement(user=locked)
        plan = entitlement.plan if entitlement else Entitlement.Plan.FREE.value
        status = entitlement.status if entitlement else NO_SUBSCRIPTION_STATUS
        previous = (locked.subscription_plan, locked.subscription_status)
        if previous != (plan, status):
            locked.subscription_plan = plan
            locked.subscription_status = status
            locked.save(update_fields=["subscription_plan", "subscription_status", "updated_at"])
            logger.info(
                "subscription changed",
                extra={"user_id": locked.pk, "plan": plan, "status": status},
            )
            if locked.deliverable_email:
                # The outbox row commits with the change; it is sent once the transaction commits.
                email_send(
                    to=locked.deliverable_email,
                    template="subscription_changed",
                    context={
                        "name": locked.full_name or "",
                        "plan": plan,
                        "plan_name": Entitlement.Plan(plan).label,
                        "status": status,
                        "previous_plan": previous[0],
                        "previous_status": previous[1],
                    },
                    user=locked,
                )
    user.subscription_plan = plan
    user.subscription_status = status
    return user


def _entitlement_for_update(*, source: str, external_id: str) -> Entitlement | None:
    return (
        Entitlement.objects.select_for_update()
        .filter(source=source, external_id=external_id)
        .first()
    )


def _validate(entitlement: Entitlement) -> None:
    # Choices and lengths; the user, the FKs and uniqueness are the database's to check.
    entitlement.full_clean(
        exclude=["user", "granted_by"], validate_unique=False, validate_constraints=False
    )


def _is_older(event_at: datetime | None, stored_at: datetime | None) -> bool:
    return event_at is not None and stored_at is not None and event_at < stored_at


def entitlement_upsert(
    *,
    user: User,
    source: str,
    external_id: str,
    product_id: str,
    plan: str,
    status: str,
    current_period_end: datetime | None = None,
    cancel_at_period_end: bool = False,
    source_updated_at: datetime | None = None,
) -> Entitlement:
    """Create or update the one entitlement of a source's purchase, then sync the user's plan.

    Idempotent on `(source, external_id)`. An update whose `source_updated_at` is older than the
    stored one is ignored (events delivered out of order); one without a timestamp always
    applies and keeps the stored timestamp. 409 `ConflictError` when the purchase already
    belongs to another user.
    """
    values = {
        "product_id": product_id,
        "plan": plan,
        "status": status,
        "current_period_end": current_period_end,
        "cancel_at_period_end": cancel_at_period_end,
    }
    with transaction.atomic():
        _lock_user(user)
        existing = _entitlement_for_update(source=source, external_id=external_id)
        if existing is None:
            entitlement = Entitlement(
                user=user,
                source=source,
                external_id=external_id,
                source_updated_at=source_updated_at,
                **values,
            )
            _validate(entitlement)
            try:
                with transaction.atomic():
                    entitlement.save(force_insert=True)
            except IntegrityError:
                # Inserted meanwhile by a request for another user: decide against that row.
                existing = _entitlement_for_update(source=source, external_id=external_id)
                if existing is None:
                    raise
            else:
                _entitlement_audit(
                    entitlement,
                    before=None,
                    after=_audited_values(entitlement),
                    **_source_actor(source),
                )
        if existing is not None:
            if existing.user_id != user.pk:
                raise ConflictError(
                    "This purchase is already linked to another account",
                    details={"resource": "Entitlement", "source": source},
                )
            if _is_older(source_updated_at, existing.source_updated_at):
                logger.info(
                    "outdated entitlement update ignored",
                    extra={"user_id": user.pk, "source": source, "entitlement": existing.pk},
                )
                return existing
            entitlement = existing
            before = _audited_values(entitlement)
            for name, value in values.items():
                setattr(entitlement, name, value)
            entitlement.source_updated_at = source_updated_at or entitlement.source_updated_at
            _validate(entitlement)
            entitlement.save()
            _entitlement_audit(
                entitlement,
                before=before,
                after=_audited_values(entitlement),
                **_source_actor(source),
            )
        user_sync_subscription(user=user)
    return entitlement


def entitlement_grant_manual(
    *,
    user: User,
    plan: str,
    granted_by: User,
    until: datetime | None = None,
    note: str = "",
    status: str = Entitlement.Status.ACTIVE,
) -> Entitlement:
    """A staff member grants `plan` to `user`, without end or until `until`; syncs the plan."""
    if not granted_by.is_staff:
        raise AuthorizationError("Only staff can grant plans")
    if until is not None and until <= timezone.now():
        raise ValidationError(
            [{"field": "until", "message": "The end must be in the future.", "code": "invalid"}]
        )
    with transaction.atomic():
        _lock_user(user)
        entitlement = Entitlement(
            user=user,
            source=Entitlement.Source.MANUAL,
            external_id=new_manual_external_id(),
            plan=plan,
            status=status,
            current_period_end=until,
            granted_by=granted_by,
            note=note,
        )
        _validate(entitlement)
        entitlement.save(force_insert=True)
        _entitlement_audit(
            entitlement,
            before=None,
            after=_audited_values(entitlement),
            actor=granted_by,
            actor_type=AuditEvent.ActorType.STAFF,
        )
        user_sync_subscription(user=user)
    logger.info(
        "plan granted",
        extra={"user_id": user.pk, "plan": plan, "granted_by": granted_by.pk},
    )
    return entitlement


def entitlement_save(*, entitlement: Entitlement) -> Entitlement:
    """Save staff's changes to an existing entitlement (the admin) and sync the user's plan."""
    with transaction.atomic():
        user = _lock_user(entitlement.user)
        _validate(entitlement)
        stored = Entitlement.objects.filter(pk=entitlement.pk).first()
        entitlement.save()
        _entitlement_audit(
            entitlement,
            before=_audited_values(stored) if stored is not None else None,
            after=_audited_values(entitlement),
        )
        user_sync_subscription(user=user)
    return entitlement


def entitlement_revoke(*, entitlement: Entitlement) -> Entitlement:
    """End a manual grant now (status `canceled`; the row stays as history); syncs the plan.

    Store purchases end at their source (Stripe, App Store, Google Play), which notifies us.
    """
    if entitlement.source != Entitlement.Source.MANUAL:
        raise BadRequestError(
            "Only manual grants can be revoked; end store purchases at their source",
            details={"source": entitlement.source},
        )
    with transaction.atomic():
        user = _lock_user(entitlement.user)
        before = _audited_values(entitlement)
        entitlement.status = Entitlement.Status.CANCELED
        entitlement.save(update_fields=["status", "updated_at"])
        _entitlement_audit(entitlement, before=before, after=_audited_values(entitlement))
        user_sync_subscription(user=user)
    return entitlement


def entitlements_delete(*, entitlements: QuerySet[Entitlement]) -> int:
    """Delete entitlements (staff, in the admin) and sync their users' plans; returns how many."""
    with transaction.atomic():
        user_ids = sorted(set(entitlements.values_list("user_id", flat=True)))
        users = list(User.objects.select_for_update().filter(pk__in=user_ids).order_by("pk"))
        for entitlement in Entitlement.objects.filter(pk__in=entitlements.values("pk")):
            _entitlement_audit(entitlement, before=_audited_values(entitlement), after=None)
        deleted, _ = Entitlement.objects.filter(pk__in=entitlements.values("pk")).delete()
        for user in users:
            user_sync_subscription(user=user)
    return deleted


def entitlements_expire_lapsed(*, now: datetime | None = None) -> int:
    """Mark entitlements whose period ended (see `billing.selectors`) `expired`; sync their users.

    Keeps `source_updated_at`, so a late renewal notice from the source still applies. Handles
    up to `EXPIRE_BATCH` users per call; returns how many entitlements expired.
    """
    now = now or timezone.now()
    lapsed = Entitlement.objects.filter(lapsed_q(now=now))
    user_ids = lapsed.order_by("user_id").values_list("user_id", flat=True).distinct()
    expired = 0
    for user_id in list(user_ids[:EXPIRE_BATCH]):
        with transaction.atomic():
            user = User.objects.select_for_update().filter(pk=user_id).first()
            if user is None:
                continue
            ending = list(lapsed.filter(user=user))
            expired += lapsed.filter(user=user).update(
                status=Entitlement.Status.EXPIRED, updated_at=timezone.now()
            )
            for entitlement in ending:
                _entitlement_audit(
                    entitlement,
                    before=_audited_values(entitlement),
                    after={**_audited_values(entitlement), "status": Entitlement.Status.EXPIRED},
                    actor_type=AuditEvent.ActorType.SYSTEM,
                )
            user_sync_subscription(user=user)
    if expired:
        logger.info("lapsed entitlements expired", extra={"count": expired})
    return expired
