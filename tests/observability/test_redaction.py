"""Credentials in query strings (`token`, `ticket`, `signature`: file links, WebSocket tickets,
presigned URLs) never reach a trace or a log line (issue 12, finding 13)."""

from __future__ import annotations

import uuid
from functools import partial

import pytest

from accounts.tokens import mint_development_token
from tests import live
from tests.live import request
from tests.observability.servers import Receiver
from tests.observability.test_tracing import attributes, exported_spans
from tests.processes import gunicorn, wait_for

SECRET = f"s3cret-{uuid.uuid4().hex}"
QUERY = f"token={SECRET}&ticket={SECRET}&X-Amz-Signature={SECRET}&skip=0"

run_manage = partial(live.run_manage, environment="test")


@pytest.mark.standalone
def test_log_lines_never_carry_credentials_from_a_query_string():
    # As runserver logs a failed request, and as any error naming a URL would.
    script = (
        "import logging; "
        f"logging.getLogger('django.server').warning('\"GET /api/v1/x?{QUERY} HTTP/1.1\" 404'); "
        f"logging.getLogger('files').error('download failed for %s', '/f?{QUERY}')"
    )

    result = run_manage({"LOG_FORMAT": "json"}, "shell", "-c", script)

    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stderr
    assert result.stderr.count("token=REDACTED&ticket=REDACTED&X-Amz-Signature=REDACTED") == 2
    assert "skip=0" in result.stderr


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_spans_never_carry_credentials_from_a_query_string(live_database_url, tmp_path):
    token = mint_development_token(email=f"redacted-{uuid.uuid4().hex[:8]}@example.com")
    with Receiver() as collector:
        env = {
            "DATABASE_URL": live_database_url,
            "REDIS_URL": "",
            "CELERY_BROKER_URL": "",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        with gunicorn(env, log_path=tmp_path / "server.log", workers=1, config_file=True) as server:
            status, _, body = request(
                "GET",
                f"{server.url}/api/v1/app/projects?{QUERY}",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert status == 200, body

            def server_span():
                for _, span in exported_spans(collector):
                    if span.kind == span.SPAN_KIND_SERVER and "projects" in span.name:
                        return span
                return None

            span = wait_for(server_span, what="the request's span", log=server.log)
            log = server.log()

    raw = b"".join(received.body for received in collector.requests)
    assert SECRET.encode() not in raw
    assert SECRET not in log
    values = " ".join(str(value) for value in attributes(span).values())
    assert "token=REDACTED" in values and "skip=0" in values, attributes(span)
