from django.urls import URLPattern, URLResolver, path

from files.views import LocalDownloadView, LocalUploadView

# The signed token travels in the query string (?token=), which the access log never writes.
urlpatterns: list[URLPattern | URLResolver] = [
    path("storage/upload", LocalUploadView.as_view(), name="files-local-upload"),
    path("storage/download", LocalDownloadView.as_view(), name="files-local-download"),
]
