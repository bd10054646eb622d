"""The staff console for projects, soft-deleted ones included."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from projects.models import Project
from projects.services import projects_restore


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("no", "Live"), ("yes", "Deleted")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Project]) -> QuerySet[Project]:
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "created_at", "updated_at", "deleted_at")
    list_filter = (DeletedFilter, "created_at")
    search_fields = ("name", "owner__email", "owner__id", "id")
    list_select_related = ("owner",)
    raw_id_fields = ("owner",)
    readonly_fields = ("id", "created_at", "updated_at", "deleted_at")
    ordering = ("-created_at",)
    actions = ("restore_projects",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Project]:
        return Project.all_objects.select_related("owner")

    @admin.action(description="Restore selected projects")
    def restore_projects(self, request: HttpRequest, queryset: QuerySet[Project]) -> None:
        restored = projects_restore(projects=queryset)
        self.message_user(request, f"{restored} project(s) restored.", messages.SUCCESS)
