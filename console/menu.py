"""The admin's menu grouped by what staff do (skeleton)."""

from __future__ import annotations

from typing import Any


def grouped_app_list(app_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Django's per-app list regrouped into sections."""
    return app_list
