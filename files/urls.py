from django.urls import URLPattern, URLResolver, path

from files.views import (
    FileConfirmView,
    FileDetailView,
    FileDownloadUrlView,
    FileListView,
    FileUploadUrlView,
)

urlpatterns: list[URLPattern | URLResolver] = [
    path("files/upload-url", FileUploadUrlView.as_view(), name="files-upload-url"),
    path("files/confirm", FileConfirmView.as_view(), name="files-confirm"),
    path("files", FileListView.as_view(), name="files"),
    path("files/<str:file_id>", FileDetailView.as_view(), name="files-detail"),
    path(
        "files/<str:file_id>/download-url",
        FileDownloadUrlView.as_view(),
        name="files-download-url",
    ),
]
