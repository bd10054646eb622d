"""The personal-data registry: what each app keeps about a user, to export it and to erase it.

`accounts` knows no domain app, so every app that stores personal data registers here from its
`AppConfig.ready()`, and the user's export (POST /users/me/export) and erasure (DELETE /users/me,
the identity provider's deletion, the admin's delete) reach every app through it:

    personal_data.register("projects", export=project_export_rows, erase=project_erase_for_user)

- `export(user)` returns what the app holds about the user, JSON-serialisable; it is put under
  the app's name in the export.
- `erase(user_id)` removes (or anonymises) it for good, stored objects included; it runs inside
  the erasure's transaction, must be idempotent, and sends anything outside the database
  (storage deletes) through `transaction.on_commit`.

One app (files) also registers the archive: where a finished export is stored and how a fresh,
short-lived download URL of it is made each time the user follows their export link
(`register_archive`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from accounts.models import User


@dataclass(frozen=True)
class StoredArchive:
    """An export as stored for its user: the stored file's id."""

    file_id: str


class ArchiveStore(Protocol):
    def __call__(self, *, user: User, name: str, filename: str, body: bytes) -> StoredArchive: ...


class ArchiveLink(Protocol):
    def __call__(self, *, user: User, file_id: str) -> str | None: ...


@dataclass(frozen=True)
class _Holder:
    export: Callable[[User], Any] | None
    erase: Callable[[str], Any] | None


_holders: dict[str, _Holder] = {}
_archive: list[tuple[ArchiveStore, ArchiveLink]] = []


def register(
    name: str,
    *,
    export: Callable[[User], Any] | None = None,
    erase: Callable[[str], Any] | None = None,
) -> Callable[[], None]:
    """Register what app `name` exports and erases of a user; returns an unregister callable."""
    if name in _holders:
        raise ValueError(f"Personal data of {name!r} is already registered")
    _holders[name] = _Holder(export=export, erase=erase)

    def unregister() -> None:
        _holders.pop(name, None)

    return unregister


def register_archive(store: ArchiveStore, *, link: ArchiveLink) -> Callable[[], None]:
    """Register where exports are stored (one store) and how a stored one is downloaded: `link`
    returns a short-lived download URL of the user's stored archive (relative for the app's own
    storage), or None when it is gone. Returns an unregister callable."""
    if _archive:
        raise ValueError("An export archive store is already registered")
    _archive.append((store, link))
    return _archive.clear


def export_sections(user: User) -> dict[str, Any]:
    """Every registered app's export of `user`, by app name, in registration order."""
    return {name: h.export(user) for name, h in _holders.items() if h.export is not None}


def erase_everywhere(user_id: str) -> None:
    """Run every registered erasure for `user_id` (inside the caller's transaction)."""
    for holder in _holders.values():
        if holder.erase is not None:
            holder.erase(user_id)


def archive_store(*, user: User, name: str, filename: str, body: bytes) -> StoredArchive:
    """Store a finished export of `user` with the registered store."""
    if not _archive:
        raise RuntimeError("No export archive store is registered (the files app is missing)")
    return _archive[0][0](user=user, name=name, filename=filename, body=body)


def archive_link(*, user: User, file_id: str) -> str | None:
    """A fresh short-lived download URL of `user`'s stored export `file_id`, None when gone."""
    if not _archive:
        raise RuntimeError("No export archive store is registered (the files app is missing)")
    return _archive[0][1](user=user, file_id=file_id)
