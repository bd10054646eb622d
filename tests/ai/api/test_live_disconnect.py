"""A client that goes away mid-stream stops the provider's work: through gunicorn, for real."""

from __future__ import annotations

import json
import socket
import uuid
from urllib.parse import urlsplit

import pytest

from accounts.tokens import mint_development_token
from tests.ai.fakes import OPENAI_KEY, FakeAI
from tests.ai.live_rows import live_usage_rows
from tests.live import live_server, read_log
from tests.processes import wait_for

CHAT = "/api/v1/app/ai/chat"


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_client_disconnect_cancels_the_upstream_call(live_database_url):
    subject = f"live|{uuid.uuid4()}"
    token = mint_development_token(email="stream@example.com", subject=subject)
    with FakeAI.running() as fake:
        fake.reply(" ".join(f"word{n}" for n in range(100)), chunk_delay=0.2)
        env = {
            "DATABASE_URL": live_database_url,
            "OPENAI_API_KEY": OPENAI_KEY,
            "OPENAI_BASE_URL": f"{fake.url}/v1",
            "AI_DEFAULT_PROVIDER": "openai",
            "AI_FALLBACK_PROVIDERS": "",
            "AI_TIMEOUT_SECONDS": "10",
            "RATE_LIMIT_AI": "100/minute",
        }
        with live_server(env) as url:
            address = urlsplit(url)
            body = json.dumps({"prompt": "count", "stream": True}).encode()
            head = (
                f"POST {CHAT} HTTP/1.1\r\nHost: {address.netloc}\r\n"
                f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
                f"Accept: text/event-stream\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
                sock.sendall(head + body)
                received = b""
                while b"data: word0 \n\n" not in received:
                    chunk = sock.recv(4096)
                    assert chunk, received
                    received += chunk
            # the socket is closed: the server notices at its next write

            assert b" 200 " in received.split(b"\r\n", 1)[0]
            assert b"text/event-stream" in received
            assert fake.wait_for_disconnect(timeout=10), "the provider call was not closed"
            assert not fake.requests[-1].completed.is_set()
            rows = wait_for(
                lambda: live_usage_rows(
                    live_database_url, subject, "error_code", "success", "completion_tokens"
                ),
                what="the call's usage row",
                log=lambda: read_log(url),
                timeout=10,
            )

    assert len(rows) == 1
    error_code, success, completion_tokens = rows[0]
    assert (error_code, success) == ("CLIENT_DISCONNECTED", False)
    assert completion_tokens > 0
