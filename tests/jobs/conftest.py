"""Fixtures of the jobs tests: the files tests' storage (local folder, or a real S3 API)."""

from __future__ import annotations

from tests.files.conftest import media_root, s3_client, s3_endpoint, s3_storage

__all__ = ["media_root", "s3_client", "s3_endpoint", "s3_storage"]
