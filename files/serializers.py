"""Input and output shapes of /files."""

from __future__ import annotations

from rest_framework import serializers

from files.models import File


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


class FileUploadInput(serializers.Serializer):
    filename = serializers.CharField(
        max_length=255,
        help_text="Original name; directories and control characters are removed.",
    )
    content_type = serializers.CharField(
        max_length=255,
        help_text="Media type without parameters, one of FILE_ALLOWED_CONTENT_TYPES.",
    )
    size = serializers.IntegerField(
        min_value=1, help_text="Size in bytes, at most FILE_MAX_BYTES (default 100 MiB)."
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


class FileConfirmInput(serializers.Serializer):
    file_id = serializers.CharField(max_length=255, help_text="The id from POST /files/upload-url.")


class FileListParams(serializers.Serializer):
    status = serializers.ChoiceField(choices=File.Status.choices, required=False)


class FileDownloadOutput(serializers.Serializer):
    download_url = serializers.URLField(help_text="Serves the file as an attachment.")
    filename = serializers.CharField()
    expires_in = serializers.IntegerField(help_text="Seconds the download URL stays valid.")
