"""docker/compose.dev.yaml: the development services, and the .env.example block that points the
app at them.

The services are read from the file as Compose reads it. The block's settings are then given to
the app itself, in a process of its own, with the S3 endpoint and the SMTP port moved to a real S3
API (moto's server) and a real SMTP server on free ports: the settings load, a file is stored and
read back through the bucket, and an email is delivered without TLS.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import pytest
import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from botocore.config import Config
from moto.server import ThreadedMotoServer

from tests.deployment.files import BASE_DIR, ENV_EXAMPLE, env_example_names
from tests.fakes import free_port

COMPOSE_DEV = BASE_DIR / "docker" / "compose.dev.yaml"
DEV_SECTION = "Development services (docker/compose.dev.yaml)"
SERVICES = {"postgres", "redis", "mailpit", "minio", "minio-setup"}
ONE_SHOTS = {"minio-setup"}
# service -> the container ports it publishes
PORTS = {
    "postgres": {5432},
    "redis": {6379},
    "mailpit": {1025, 8025},
    "minio": {9000, 9001},
}


def compose_dev() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_DEV.read_text())
    return data


def published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each `ports` entry."""
    entries = []
    for entry in service.get("ports", []):
        match = re.fullmatch(r"(?:(?P<ip>[\d.]+):)?(?P<host>\d+):(?P<container>\d+)", str(entry))
        assert match, f"unexpected port entry {entry!r}"
        # No address: every interface of the host.
        entries.append((match["ip"] or "*", int(match["host"]), int(match["container"])))
    return entries


def dev_block() -> list[tuple[str, str]]:
    """(name, value) of each `# NAME=value` line of .env.example's development services section."""
    lines = ENV_EXAMPLE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"# --- {DEV_SECTION} "))
    block = []
    for line in lines[start + 1 :]:
        if line.startswith("# --- "):
            break
        if match := re.match(r"^#\s*([A-Z][A-Z0-9_]*)=(.*)$", line):
            block.append((match[1], match[2]))
    return block


def dev_settings() -> dict[str, str]:
    return dict(dev_block())


# --- the services ----------------------------------------------------------------------------


def test_the_development_services_and_only_them():
    services = compose_dev()["services"]

    assert set(services) == SERVICES
    assert not any("build" in service for service in services.values())  # the app runs on the host
    assert re.fullmatch(r"postgres:1[56](\.\d+)*-alpine", services["postgres"]["image"])
    assert re.fullmatch(r"redis:7(\.\d+)*-alpine", services["redis"]["image"])
    assert services["mailpit"]["image"].startswith("axllent/mailpit:")
    assert services["minio"]["image"].startswith("minio/minio:")
    assert services["minio-setup"]["image"].startswith("minio/mc:")


def test_every_port_is_published_on_the_loopback_address_only():
    services = compose_dev()["services"]

    for name, ports in PORTS.items():
        entries = published(services[name])
        assert {container for _, _, container in entries} == ports, name
        for address, host, container in entries:
            assert address == "127.0.0.1", f"{name} publishes {container} on {address}"
            assert host == container, name
    assert not published(services["minio-setup"])


def test_long_running_services_have_health_checks_and_the_bucket_waits_for_minio():
    services = compose_dev()["services"]

    for name, service in services.items():
        if name in ONE_SHOTS:
            assert service["restart"] == "no", name
            continue
        assert service["healthcheck"]["test"], name
        assert service["restart"] == "unless-stopped", name
    setup = services["minio-setup"]
    assert setup["depends_on"]["minio"] == {"condition": "service_healthy"}
    assert 'mc mb --ignore-existing "store/$$BUCKET"' in setup["command"][0]


# --- the .env.example block ------------------------------------------------------------------


def test_every_line_of_the_block_sets_a_variable_defined_in_its_own_section():
    names = [name for name, _ in dev_block()]
    text = ENV_EXAMPLE.read_text()
    before_block = text.split(f"# --- {DEV_SECTION}")[0]
    defined_before = set(re.findall(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=", before_block, re.M))

    assert len(names) == len(set(names)) >= 12
    assert set(names) <= set(env_example_names())
    assert [name for name in names if name not in defined_before] == []


def test_the_block_names_the_services_of_the_compose_file():
    services = compose_dev()["services"]
    block = dev_settings()
    database = urlsplit(block["DATABASE_URL"])
    postgres = services["postgres"]["environment"]
    minio = services["minio"]["environment"]

    assert (database.scheme, database.hostname, database.port) == ("postgres", "127.0.0.1", 5432)
    assert (database.username, database.password) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
    )
    assert database.path == f"/{postgres['POSTGRES_DB']}"
    assert urlsplit(block["REDIS_URL"]).port == 6379
    assert (block["EMAIL_PROVIDER"], block["EMAIL_HOST"], block["EMAIL_PORT"]) == (
        "smtp",
        "127.0.0.1",
        "1025",
    )
    assert block["EMAIL_USE_TLS"] == "false"
    assert block["STORAGE_PROVIDER"] == "s3"
    assert block["AWS_S3_ENDPOINT_URL"] == "http://127.0.0.1:9000"
    assert block["AWS_ACCESS_KEY_ID"] == minio["MINIO_ROOT_USER"]
    assert block["AWS_SECRET_ACCESS_KEY"] == minio["MINIO_ROOT_PASSWORD"]
    assert block["AWS_STORAGE_BUCKET_NAME"] == services["minio-setup"]["environment"]["BUCKET"]


# --- the block's settings, used by the app ---------------------------------------------------


@dataclass
class SmtpSink:
    messages: list[bytes] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.messages.append(envelope.original_content or b"")
        return "250 Message accepted"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, SmtpSink]]:
    """A plain SMTP server (no TLS, no authentication), as Mailpit offers on 1025."""
    sink, port = SmtpSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, sink
    controller.stop()


@pytest.fixture
def s3_server() -> Iterator[str]:
    """A real S3 API on a free port with the block's bucket, standing in for MinIO."""
    block = dev_settings()
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=block["AWS_S3_REGION_NAME"],
        aws_access_key_id=block["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=block["AWS_SECRET_ACCESS_KEY"],
        config=Config(signature_version="s3v4"),
    ).create_bucket(Bucket=block["AWS_STORAGE_BUCKET_NAME"])
    yield endpoint
    server.stop()


APP_CHECK = textwrap.dedent(
    """
    import json

    import django

    django.setup()
    from django.conf import settings
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage
    from django.core.mail import send_mail

    name = default_storage.save("dev-services/check.txt", ContentFile(b"stored in the bucket"))
    with default_storage.open(name) as stored:
        content = stored.read().decode()
    send_mail("Development services", "Delivered.", None, ["ada@example.com"])
    database = settings.DATABASES["default"]
    print(json.dumps({
        "content": content,
        "url": default_storage.url(name),
        "storage": settings.STORAGES["default"]["BACKEND"],
        "email_backend": settings.EMAIL_BACKEND,
        "email_tls": [settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL],
        "database": [database["ENGINE"], database["HOST"], database["PORT"], database["NAME"]],
        "redis": settings.REDIS_URL,
    }))
    """
)


def test_the_app_runs_on_the_blocks_settings(tmp_path: Path, smtp_server, s3_server):
    smtp_port, sink = smtp_server
    block = dev_settings()
    environment = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "ENVIRONMENT": "local",
        **block,
        # The real services' addresses, moved to the stand-ins.
        "EMAIL_PORT": str(smtp_port),
        "AWS_S3_ENDPOINT_URL": s3_server,
    }

    result = subprocess.run(
        [sys.executable, "-c", APP_CHECK],
        cwd=BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["content"] == "stored in the bucket"
    assert seen["storage"] == "storages.backends.s3.S3Storage"
    # Path-style presigned URLs on the endpoint itself: no bucket subdomain to resolve.
    assert seen["url"].startswith(f"{s3_server}/{block['AWS_STORAGE_BUCKET_NAME']}/dev-services/")
    assert seen["email_backend"] == "django.core.mail.backends.smtp.EmailBackend"
    assert seen["email_tls"] == [False, False]
    assert seen["database"][0].endswith(".postgresql")
    assert seen["database"][1:] == ["127.0.0.1", 5432, "groundwork"]
    assert seen["redis"] == block["REDIS_URL"]
    assert len(sink.messages) == 1
    assert b"Subject: Development services" in sink.messages[0]
