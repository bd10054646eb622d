"""The dashboard on the admin's index (skeleton)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def dashboard_context(request: HttpRequest) -> dict[str, Any]:
    """The dashboard's figures for the index template."""
    return {}
