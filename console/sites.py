"""The staff console's admin site: the default `admin.site` of this project.

It is Django's `AdminSite` with three additions, each in its own module:
- every model admin registered on it records its changes in the audit log (`console.auditing`),
  so no app has to remember to;
- its index is the dashboard (`console.dashboard`);
- its menu groups models by what staff do (`console.menu`).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from console.auditing import audited_admin_class
from console.dashboard import dashboard_context
from console.menu import grouped_app_list


class ConsoleAdminSite(admin.AdminSite):
    """The Django admin as the staff console."""

    site_header = "Groundwork administration"
    site_title = "Groundwork admin"
    index_title = "Dashboard"

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        """Register as usual, with the model admin's writes recorded in the audit log."""
        super().register(
            model_or_iterable, audited_admin_class(admin_class or admin.ModelAdmin), **options
        )

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[Any]:
        """The menu grouped by task on the index and sidebar; one app's own page as usual."""
        app_list = super().get_app_list(request, app_label)
        return app_list if app_label else grouped_app_list(app_list)

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """The dashboard, above the grouped menu."""
        response: TemplateResponse = super().index(
            request, {**dashboard_context(request), **(extra_context or {})}
        )
        return response
