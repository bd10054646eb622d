"""Storage for the files tests: local disk in a temporary folder, or a real S3 API (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from tests.fakes import free_port

BUCKET = "groundwork-test"
REGION = "us-east-1"
S3_KEYS = {"aws_access_key_id": "test-access-key", "aws_secret_access_key": "test-secret-key"}


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    """Every files test stores locally under its own temporary folder, never in the repo."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "upload-tmp")
    (tmp_path / "upload-tmp").mkdir()
    return Path(settings.MEDIA_ROOT)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A real S3 API (moto's server) on a free local port, with the test bucket."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=REGION,
        config=Config(signature_version="s3v4"),
        **S3_KEYS,
    ).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


@pytest.fixture
def s3_client(s3_endpoint: str) -> Any:
    """A boto3 client on the test bucket's server, to look at what was stored."""
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name=REGION,
        config=Config(signature_version="s3v4"),
        **S3_KEYS,
    )


@pytest.fixture
def s3_storage(settings: Any, s3_endpoint: str) -> None:
    """Store files in the moto bucket, configured as STORAGE_PROVIDER=s3 would."""
    settings.STORAGE_PROVIDER = "s3"
    settings.AWS_ACCESS_KEY_ID = S3_KEYS["aws_access_key_id"]
    settings.AWS_SECRET_ACCESS_KEY = S3_KEYS["aws_secret_access_key"]
    settings.AWS_STORAGE_BUCKET_NAME = BUCKET
    settings.AWS_S3_REGION_NAME = REGION
    settings.AWS_S3_ENDPOINT_URL = s3_endpoint
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "storages.backends.s3.S3Storage"},
    }
