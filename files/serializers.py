"""Input and output shapes of /files."""

from __future__ import annotations

import unicodedata
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from rest_framework import serializers

from config.serializers import QueryInput, StrictInput
from files.models import File
from files.services import DROPPED_CATEGORIES


class FileOutput(serializers.ModelSerializer[File]):
    size = serializers.IntegerField(
        source="current_size",
        read_only=True,
        help_text="Bytes stored once uploaded; until then, the size announced by the client.",
    )

    class Meta:
        model = File
        fields = ["id", "filename", "content_type", "size", "status", "created_at", "updated_at"]
        read_only_fields = fields


class MediaTypeField(serializers.ChoiceField):
    """One of the allowed media types, matched without regard to case (RFC 2045)."""

    def to_internal_value(self, data: Any) -> Any:
        return super().to_internal_value(data.lower() if isinstance(data, str) else data)


def _usable_name_pattern() -> str:
    """File names whose last path segment keeps a usable character once cleaned (what
    `file_upload_start` accepts): not a dropped control or format character, not a space, not a
    dot or a separator; and no NUL character anywhere. Built from the Unicode tables for the Basic
    Multilingual Plane."""
    unusable = [
        code
        for code in range(0x10000)
        if unicodedata.category(chr(code)) in DROPPED_CATEGORIES
        or chr(code).isspace()
        or chr(code) in "./\\"
    ]
    ranges: list[list[int]] = []
    for code in unusable:
        if ranges and ranges[-1][1] == code - 1:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    chars = "".join(
        f"\\u{low:04x}" if low == high else f"\\u{low:04x}-\\u{high:04x}" for low, high in ranges
    )
    # No NUL anywhere (API.md §8: request strings never hold one).
    return rf"^(?:[^/\\\u0000]*[/\\])*[^/\\\u0000]*[^{chars}][^/\\\u0000]*$"


USABLE_NAME = RegexValidator(_usable_name_pattern(), "The file name has no usable characters.")


class FileUploadInput(StrictInput):
    filename = serializers.CharField(
        max_length=255,
        validators=[USABLE_NAME],
        help_text="Original name; directories and control characters are removed.",
    )
    content_type = serializers.CharField(
        max_length=255,
        help_text="Media type without parameters, one of FILE_ALLOWED_CONTENT_TYPES.",
    )
    size = serializers.IntegerField(
        min_value=1, help_text="Size in bytes, at most FILE_MAX_BYTES (default 100 MiB)."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Built per instance so that the schema's enum and maximum follow the settings.
        super().__init__(*args, **kwargs)
        self.fields["content_type"] = MediaTypeField(
            choices=settings.FILE_ALLOWED_CONTENT_TYPES,
            help_text="Media type without parameters, one of FILE_ALLOWED_CONTENT_TYPES "
            "(case-insensitive).",
        )
        self.fields["size"] = serializers.IntegerField(
            min_value=1,
            max_value=settings.FILE_MAX_BYTES,
            error_messages={"max_value": "Files may be at most {max_value} bytes."},
            help_text="Size in bytes, at most FILE_MAX_BYTES (default 100 MiB).",
        )


class FileUploadOutput(serializers.Serializer):
    file_id = serializers.UUIDField()
    upload_url = serializers.URLField(
        help_text="POST a multipart/form-data form here: every entry of `fields`, then `file`."
    )
    # DRF's metaclass moves declared fields off the class, so this does not shadow
    # Serializer.fields at run time; only the type checker sees a clash.
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.CharField(), help_text="Form fields to send before the file, unchanged."
    )
    expires_in = serializers.IntegerField(help_text="Seconds the upload URL stays valid.")


class FileConfirmInput(StrictInput):
    file_id = serializers.CharField(max_length=255, help_text="The id from POST /files/upload-url.")


class FileListParams(QueryInput):
    status = serializers.ChoiceField(choices=File.Status.choices, required=False)


class FileDownloadOutput(serializers.Serializer):
    download_url = serializers.URLField(help_text="Serves the file as an attachment.")
    filename = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds the download URL stays valid.")
