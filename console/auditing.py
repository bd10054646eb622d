"""Every change made through the admin, recorded in the audit log (skeleton)."""

from __future__ import annotations

from typing import Any


def audited_admin_class(admin_class: type[Any]) -> type[Any]:
    """`admin_class` with its saves, deletes and actions recorded in the audit log."""
    return admin_class
