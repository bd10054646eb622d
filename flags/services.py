"""Writes to feature flags. Each one publishes a fresh snapshot once its transaction commits, so
every process sees the change within seconds (`flags.selectors`). The admin writes through these;
so should any other code, or call `flags_changed()` after writing flags itself."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import QuerySet

from accounts.models import User
from config.errors import ValidationError
from flags.models import Flag
from flags.selectors import flags_cache_refresh, flags_memo_clear


def flags_changed() -> None:
    """Publish a fresh snapshot of the flags once the current transaction commits (at once
    outside a transaction): this process sees it on its next read, the others within seconds."""
    transaction.on_commit(_publish)


def _publish() -> None:
    flags_cache_refresh()
    flags_memo_clear()


def flag_save(*, flag: Flag, users: Iterable[User] | None = None) -> Flag:
    """Create or update `flag`, and replace its users when `users` is given.

    ValidationError (422) when a field is invalid (a percentage outside 0-100, an unknown plan);
    a duplicate key is left to the unique constraint.
    """
    try:
        flag.full_clean(exclude=["users"], validate_unique=False)
    except DjangoValidationError as error:
        raise ValidationError(
            [
                {"field": field, "message": message, "code": "invalid"}
                for field, messages in error.message_dict.items()
                for message in messages
            ]
        ) from None
    with transaction.atomic():
        flag.save()
        if users is not None:
            flag.users.set(users)
        flags_changed()
    return flag


def flag_delete(*, flag: Flag) -> None:
    """Delete `flag`: code that checks it gets False from then on."""
    with transaction.atomic():
        flag.delete()
        flags_changed()


def flags_delete(*, flags: QuerySet[Flag]) -> int:
    """Delete every flag of `flags`; returns how many there were."""
    with transaction.atomic():
        _, by_model = flags.delete()
        flags_changed()
    return by_model.get(Flag._meta.label, 0)
