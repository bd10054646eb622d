"""Storage settings: STORAGES (uploaded files and collected static files), the files app's limits
and allowed types, and S3 / Cloudflare R2 through django-storages."""

from __future__ import annotations

from pathlib import Path

from config.settings.core import BASE_DIR, IS_PRODUCTION, env

# --- File storage (files app) ---------------------------------------------------------------
# local: files under MEDIA_ROOT behind signed, expiring URLs served by the app itself.
# s3 / r2: django-storages' S3Storage; clients upload and download with presigned requests.
STORAGE_PROVIDER = env.choice("STORAGE_PROVIDER", ("local", "s3", "r2"), "local")
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", str(BASE_DIR / "media")))
FILE_MAX_BYTES = env.int("FILE_MAX_BYTES", 100 * 1024 * 1024, minimum=1)
FILE_UPLOAD_URL_EXPIRES = env.int("FILE_UPLOAD_URL_EXPIRES", 900, minimum=1)
FILE_DOWNLOAD_URL_EXPIRES = env.int("FILE_DOWNLOAD_URL_EXPIRES", 300, minimum=1)
for _name, _seconds in (
    ("FILE_UPLOAD_URL_EXPIRES", FILE_UPLOAD_URL_EXPIRES),
    ("FILE_DOWNLOAD_URL_EXPIRES", FILE_DOWNLOAD_URL_EXPIRES),
):
    if _seconds > 604_800:  # the longest a SigV4 presigned request may live
        env.problems.append(f"{_name} must be at most 604800 seconds (7 days).")
# Never text/html, SVG or anything executable: what a browser could run.
DEFAULT_FILE_ALLOWED_CONTENT_TYPES = (
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/heic", "image/heif",
    "application/pdf", "text/plain", "text/csv",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.spreadsheet",
    "application/vnd.oasis.opendocument.presentation",
    "application/zip", "application/x-zip-compressed", "application/gzip", "application/x-gzip",
    "audio/mpeg", "audio/mp4", "audio/aac", "audio/ogg", "audio/wav", "audio/webm", "audio/flac",
    "video/mp4", "video/webm", "video/quicktime", "video/ogg", "video/mpeg",
)  # fmt: skip
FILE_ALLOWED_CONTENT_TYPES = [
    media_type.lower()
    for media_type in env.list("FILE_ALLOWED_CONTENT_TYPES", DEFAULT_FILE_ALLOWED_CONTENT_TYPES)
]

# S3Storage reads these AWS_* settings; with r2 they are filled from the R2_* variables.
R2_ACCOUNT_ID = env.str("R2_ACCOUNT_ID")
R2_ACCESS_KEY_ID = env.str("R2_ACCESS_KEY_ID")
R2_SECRET_ACCESS_KEY = env.str("R2_SECRET_ACCESS_KEY")
R2_BUCKET_NAME = env.str("R2_BUCKET_NAME")
AWS_S3_SIGNATURE_VERSION = "s3v4"
_storage_missing: list[str] = []
if STORAGE_PROVIDER == "r2":
    AWS_ACCESS_KEY_ID = R2_ACCESS_KEY_ID
    AWS_SECRET_ACCESS_KEY = R2_SECRET_ACCESS_KEY
    AWS_STORAGE_BUCKET_NAME = R2_BUCKET_NAME
    AWS_S3_REGION_NAME: str | None = "auto"
    AWS_S3_ENDPOINT_URL: str | None = f"https://{R2_ACCOUNT_ID}.r2.cloudflarestorage.com"
    _storage_missing = [
        name
        for name, value in (
            ("R2_ACCOUNT_ID", R2_ACCOUNT_ID),
            ("R2_ACCESS_KEY_ID", R2_ACCESS_KEY_ID),
            ("R2_SECRET_ACCESS_KEY", R2_SECRET_ACCESS_KEY),
            ("R2_BUCKET_NAME", R2_BUCKET_NAME),
        )
        if not value
    ]
else:
    AWS_ACCESS_KEY_ID = env.str("AWS_ACCESS_KEY_ID")
    AWS_SECRET_ACCESS_KEY = env.str("AWS_SECRET_ACCESS_KEY")
    AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME")
    AWS_S3_REGION_NAME = env.str("AWS_S3_REGION_NAME") or None
    AWS_S3_ENDPOINT_URL = env.str("AWS_S3_ENDPOINT_URL") or None
if STORAGE_PROVIDER == "s3":
    if not AWS_STORAGE_BUCKET_NAME:
        _storage_missing.append("AWS_STORAGE_BUCKET_NAME")
    # AWS signs with the bucket's region; S3-compatible services behind an endpoint need none.
    if not (AWS_S3_REGION_NAME or AWS_S3_ENDPOINT_URL):
        _storage_missing.append("AWS_S3_REGION_NAME (or AWS_S3_ENDPOINT_URL)")
    # Neither key means boto3's own credential chain (an IAM role, a profile).
    if bool(AWS_ACCESS_KEY_ID) != bool(AWS_SECRET_ACCESS_KEY):
        env.problems.append("Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither.")
for _name in _storage_missing:
    env.problems.append(f"{_name} is required when STORAGE_PROVIDER={STORAGE_PROVIDER}.")

# --- Storage backends ------------------------------------------------------------------------
# Uploaded files: the local file system or S3Storage (s3, r2). Static files (settings/core.py):
# WhiteNoise's compressed, hashed copies in production.
STORAGES = {
    "default": {
        "BACKEND": (
            "django.core.files.storage.FileSystemStorage"
            if STORAGE_PROVIDER == "local"
            else "storages.backends.s3.S3Storage"
        )
    },
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if IS_PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
