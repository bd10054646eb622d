"""Errors reach Sentry (a local stand-in receives the envelope) tagged with the request id and
without personal data."""

from __future__ import annotations

import gzip
import json
import uuid
import zlib

import pytest
from django.conf import settings

from accounts.tokens import mint_development_token
from tests.live import request
from tests.observability.servers import Receiver
from tests.processes import gunicorn, wait_for


def envelope_items(body: bytes, encoding: str) -> list[tuple[dict, dict]]:
    """(item header, item payload) pairs of a Sentry envelope."""
    if encoding == "gzip":
        body = gzip.decompress(body)
    elif encoding == "deflate":
        body = zlib.decompress(body)
    elif encoding == "br":
        import brotli

        body = brotli.decompress(body)
    lines = body.split(b"\n")
    items = []
    index = 1  # line 0 is the envelope header
    while index + 1 < len(lines):
        header = json.loads(lines[index])
        items.append((header, json.loads(lines[index + 1])))
        index += 2
    return items


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_server_error_reaches_sentry_with_its_request_id_and_no_personal_data(
    live_database_url, tmp_path
):
    request_id = f"sentry-{uuid.uuid4().hex}"
    email = f"private-person-{uuid.uuid4().hex[:8]}@example.com"
    token = mint_development_token(email=email, full_name="Private Person")
    ticket = f"ws-ticket-{uuid.uuid4().hex}"
    with Receiver() as sentry:
        env = {
            "DATABASE_URL": live_database_url,
            "REDIS_URL": "",
            "CELERY_BROKER_URL": "",
            "SENTRY_DSN": f"http://public0123456789abcdef@{sentry.url.removeprefix('http://')}/42",
            "APP_VERSION": "9.8.7",
        }
        with gunicorn(
            env,
            log_path=tmp_path / "server.log",
            workers=1,
            app="tests.observability.failing_wsgi:application",
            config_file=True,
        ) as server:
            status, _, body = request(
                "GET",
                f"{server.url}/api/v1/public/test-failure?email={email}&ticket={ticket}",
                headers={"X-Request-ID": request_id, "Authorization": f"Bearer {token}"},
            )
            assert status == 500
            assert json.loads(body)["error"]["details"]["request_id"] == request_id

            def event_arrived():
                for received in sentry.requests:
                    encoding = received.headers.get("content-encoding", "")
                    for header, payload in envelope_items(received.body, encoding):
                        if header.get("type") == "event":
                            return received, payload
                return None

            received, event = wait_for(event_arrived, what="a Sentry event", log=server.log)

    assert received.path == "/api/42/envelope/"
    assert event["tags"]["request_id"] == request_id
    assert event["environment"] == "test"
    assert event["release"] == "9.8.7"
    assert event["exception"]["values"][-1]["type"] == "ZeroDivisionError"
    # No personal data: no user, no IP address, no credentials, no query string values.
    raw = json.dumps(event)
    assert "user" not in event or not event["user"].get("ip_address")
    assert email not in raw
    assert token not in raw
    # Not in the breadcrumbs either (the log line naming the URL).
    assert ticket not in raw
    assert "ticket=REDACTED" in raw
    assert settings.INSECURE_JWT_SECRET not in raw
