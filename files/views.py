"""/api/v1/app/files, and the public endpoints of local storage's signed URLs."""

from __future__ import annotations

from typing import Any

from django.core.files.uploadhandler import TemporaryFileUploadHandler
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import authenticated_user
from config.api import PublicAPIView, validated
from config.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError
from config.openapi import error_responses
from config.pagination import PAGE_PARAMETERS, page_of, paginate
from files.models import File
from files.selectors import file_get, file_list
from files.serializers import (
    FileConfirmInput,
    FileDownloadOutput,
    FileListParams,
    FileOutput,
    FileUploadInput,
    FileUploadOutput,
)
from files.services import (
    file_confirm,
    file_delete,
    file_download_link,
    file_local_download_open,
    file_local_upload_open,
    file_local_upload_store,
    file_upload_start,
)

FILE_ID = OpenApiParameter("file_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
STATUS = OpenApiParameter(
    "status", str, enum=File.Status.values, description="Only files with this status."
)
TOKEN = OpenApiParameter(
    "token", str, required=True, description="Signed token from the URL the API returned."
)


class FileUploadUrlView(APIView):
    @extend_schema(
        tags=["files"],
        request=FileUploadInput,
        responses={201: FileUploadOutput},
        summary="Start an upload",
        description=(
            "Records a pending file and returns where to upload it: POST a multipart form with "
            "every entry of `fields` and then the `file` part to `upload_url`, then call "
            "POST /files/confirm."
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(FileUploadInput, request.data)
        upload = file_upload_start(owner=authenticated_user(request), **data)
        body = {
            "file_id": upload.file.pk,
            "upload_url": request.build_absolute_uri(upload.target.url),
            "fields": upload.target.fields,
            "expires_in": upload.expires_in,
        }
        return Response(FileUploadOutput(body).data, status=201)


class FileConfirmView(APIView):
    @extend_schema(
        tags=["files"],
        request=FileConfirmInput,
        responses={
            200: FileOutput,
            **error_responses(
                {
                    404: "NOT_FOUND: missing or not mine.",
                    429: "QUOTA_EXCEEDED: the stored file would pass the plan's storage limit.",
                }
            ),
        },
        summary="Confirm an upload",
        description=(
            "Checks the stored object and marks the file `uploaded` with its real size. "
            "Confirming an uploaded file again returns it unchanged. 400 when nothing was "
            "stored or it breaks the declared size or the limit, 429 QUOTA_EXCEEDED when it "
            "and the files already uploaded pass the plan's storage limit: either way the "
            "file becomes `failed` and the stored object is removed."
        ),
    )
    def post(self, request: Request) -> Response:
        data = validated(FileConfirmInput, request.data)
        file = file_confirm(owner=authenticated_user(request), **data)
        return Response(FileOutput(file).data)


class FileListView(APIView):
    @extend_schema(
        tags=["files"],
        operation_id="files_list",
        parameters=[*PAGE_PARAMETERS, STATUS],
        responses=page_of(FileOutput),
        summary="List my files",
        description="Newest first.",
    )
    def get(self, request: Request) -> Response:
        params = validated(FileListParams, request.query_params)
        files = file_list(owner=authenticated_user(request), status=params.get("status"))
        return paginate(request, files).response(FileOutput)


class FileDetailView(APIView):
    @extend_schema(tags=["files"], parameters=[FILE_ID], responses=FileOutput, summary="Get a file")
    def get(self, request: Request, file_id: str) -> Response:
        file = file_get(owner=authenticated_user(request), file_id=file_id)
        return Response(FileOutput(file).data)

    @extend_schema(
        tags=["files"],
        parameters=[FILE_ID],
        responses={204: None},
        summary="Delete a file",
        description="Removes the record now and the stored object right after.",
    )
    def delete(self, request: Request, file_id: str) -> Response:
        file_delete(owner=authenticated_user(request), file_id=file_id)
        return Response(status=204)


class FileDownloadUrlView(APIView):
    @extend_schema(
        tags=["files"],
        parameters=[FILE_ID],
        responses={
            200: FileDownloadOutput,
            **error_responses({400: "BAD_REQUEST: not uploaded."}),
        },
        summary="Get a download link",
    )
    def get(self, request: Request, file_id: str) -> Response:
        link = file_download_link(owner=authenticated_user(request), file_id=file_id)
        body = {
            "download_url": request.build_absolute_uri(link.url),
            "filename": link.filename,
            "expires_in": link.expires_in,
        }
        return Response(FileDownloadOutput(body).data)


# --- Local storage ---------------------------------------------------------------------------


class SizeLimitedUploadHandler(TemporaryFileUploadHandler):
    """Streams the form's one `file` part to a temporary file, never into memory.

    Past `limit` bytes it deletes what it wrote and answers 413 at once, without reading the
    rest of the body.
    """

    def __init__(self, *, limit: int) -> None:
        super().__init__()
        self.limit = limit
        self.received = 0
        self.started = False

    def new_file(self, field_name: str, *args: Any, **kwargs: Any) -> None:
        if field_name != "file" or self.started:
            self.upload_interrupted()
            raise BadRequestError("Send exactly one file part, named 'file'")
        self.started = True
        super().new_file(field_name, *args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > self.limit:
            self.upload_interrupted()
            raise PayloadTooLargeError(
                f"The file is larger than the {self.limit} bytes declared",
                details={"limit_bytes": self.limit},
            )
        return super().receive_data_chunk(raw_data, start)


class LocalUploadView(PublicAPIView):
    """The app's stand-in for an S3 presigned POST (local storage, and R2 which has none)."""

    parser_classes = [MultiPartParser]

    @extend_schema(
        tags=["files"],
        parameters=[TOKEN],
        request={
            "multipart/form-data": inline_serializer(
                "LocalUploadForm",
                {
                    "Content-Type": serializers.CharField(),
                    "file": serializers.FileField(),
                },
            )
        },
        responses={
            204: None,
            **error_responses({403: "Tampered, expired or spent link."}),
        },
        summary="Upload to local storage",
        description=(
            "The `upload_url` returned by POST /files/upload-url when files are stored locally "
            "or in R2. "
            "Takes the returned `fields` and the `file` part; rejects (413) a file larger than "
            "declared as soon as it passes the size."
        ),
    )
    def post(self, request: Request) -> Response:
        if request.content_type.partition(";")[0].strip().lower() != "multipart/form-data":
            raise UnsupportedMediaTypeError("Send the upload as multipart/form-data")
        file = file_local_upload_open(token=request.query_params.get("token", ""))
        # Read by the multipart parser when request.data is first touched, below.
        request.upload_handlers = [SizeLimitedUploadHandler(limit=file.declared_size)]
        file_local_upload_store(
            file=file,
            content_type=request.data.get("Content-Type"),
            content=request.FILES.get("file"),
        )
        return Response(status=204)


class LocalDownloadView(PublicAPIView):
    """Local storage's stand-in for an S3 presigned GET."""

    @extend_schema(
        tags=["files"],
        parameters=[TOKEN],
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            **error_responses({403: "Tampered or expired link.", 404: "The file is gone."}),
        },
        summary="Download from local storage",
        description="The `download_url` of a locally stored file; served as an attachment.",
    )
    def get(self, request: Request) -> FileResponse:
        file, content = file_local_download_open(token=request.query_params.get("token", ""))
        return FileResponse(
            content, as_attachment=True, filename=file.filename, content_type=file.content_type
        )
