"""Recording sensitive actions in the audit log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest

from audit.models import AuditEvent
from config.observability import request_id_var

# Fields whose values never reach the log, whatever model they come from.
SECRET_FIELDS = frozenset({"password", "secret", "token", "api_key", "key", "signature"})
MASK = "********"
USER_AGENT_MAX_LENGTH = 512


def _masked(changes: Mapping[str, tuple[Any, Any]]) -> dict[str, list[Any]]:
    return {
        field: [MASK, MASK] if _is_secret(field) else [before, after]
        for field, (before, after) in changes.items()
    }


def _is_secret(field: str) -> bool:
    return any(part in SECRET_FIELDS for part in field.lower().split("_"))


def audit_record(
    *,
    action: str,
    actor: Any = None,
    actor_type: str = AuditEvent.ActorType.SYSTEM,
    impersonator: Any = None,
    target_type: str = "",
    target_id: str = "",
    changes: Mapping[str, tuple[Any, Any]] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Append one event to the audit log and return it.

    `changes` maps each changed field to `(before, after)`; values of secret-looking fields
    (password, token, key, secret, signature) are masked. With `request`, the client's address
    and user agent are kept; the request id comes from the current request or task either way.
    Call it inside the transaction of the write it records, so both commit or neither does.
    """
    ip = user_agent = None
    if request is not None:
        ip = request.META.get("REMOTE_ADDR") or None
        user_agent = request.headers.get("User-Agent", "")[:USER_AGENT_MAX_LENGTH]
    return AuditEvent.objects.create(
        action=action,
        actor=actor,
        actor_type=actor_type,
        impersonator=impersonator,
        target_type=target_type,
        target_id=str(target_id),
        changes=_masked(changes or {}),
        ip=ip,
        user_agent=user_agent or "",
        request_id=request_id_var.get() or "",
    )
