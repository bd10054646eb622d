"""The staff console for files: browse, rename, delete (with the stored objects)."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

from files.models import File
from files.services import files_delete


@admin.register(File)
class FileAdmin(admin.ModelAdmin):
    list_display = (
        "filename",
        "owner",
        "status",
        "content_type",
        "size_display",
        "created_at",
    )
    list_filter = ("status", "content_type")
    search_fields = ("filename", "owner__email")
    list_select_related = ("owner",)
    ordering = ("-created_at",)
    fields = (
        "id",
        "owner",
        "filename",
        "content_type",
        "status",
        "declared_size",
        "size",
        "key",
        "uploaded_at",
        "created_at",
        "updated_at",
    )
    # Only the display name may change: everything else mirrors the stored object.
    readonly_fields = tuple(name for name in fields if name != "filename")

    @admin.display(description="size", ordering="size")
    def size_display(self, file: File) -> str:
        return filesizeformat(file.current_size)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Files come from uploads through the API; a row without an object would be a lie.
        return False

    def delete_model(self, request: HttpRequest, obj: File) -> None:
        files_delete(files=File.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[File]) -> None:
        files_delete(files=queryset)
