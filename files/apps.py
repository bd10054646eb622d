from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "files"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import personal_data
        from files.selectors import file_export_rows, file_storage_used
        from files.services import (
            file_export_archive_link,
            file_export_archive_store,
            files_delete_for_owner,
        )
        from usage import metrics as usage_metrics

        personal_data.register(
            "files",
            export=lambda user: file_export_rows(owner=user),
            erase=lambda user_id: files_delete_for_owner(owner_id=user_id),
        )
        personal_data.register_archive(file_export_archive_store, link=file_export_archive_link)
        usage_metrics.register_gauge(
            "storage_bytes", read=lambda user: file_storage_used(owner=user)
        )
