"""A completion's usage row and counters are written once its answer has been sent.

Requests go through Django's WSGI application as a server drives it: the server writes the
body it iterates, then closes the response. The usage is recorded at that close, so the
caller has the answer before the bookkeeping; a call that fails records its row before its
error is sent. The last test runs the real server (gunicorn).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpResponseBase
from django.test import RequestFactory

from accounts.models import User
from accounts.tokens import mint_development_token
from ai.models import AIUsage
from ai.selectors import ai_tokens_this_month
from tests.ai.fakes import OPENAI_KEY, FakeAI, Reply, use_fake_ai
from tests.ai.live_rows import live_usage_rows
from tests.live import live_server, read_log, request
from tests.processes import wait_for

COMPLETIONS = "/api/v1/app/ai/completions"
HELLO = {"messages": [{"role": "user", "content": "a b"}]}


@contextmanager
def _server_side() -> Iterator[None]:
    """Serve requests in the test's own database connection and transaction (as Django's test
    client does): the request signals would otherwise close it."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
    return None


def _serve(user: User, payload: dict[str, Any]) -> tuple[HttpResponseBase, bytes]:
    """POST `payload` as `user` through the WSGI application; the response and the body the
    server writes, before the server closes the response."""
    token = mint_development_token(email=user.email, subject=user.pk)
    environ = (
        RequestFactory()
        .post(
            COMPLETIONS,
            json.dumps(payload),
            content_type="application/json",
            headers={"Authorization": f"Bearer {token}"},
        )
        .environ
    )
    response = WSGIHandler()(environ, _start_response)
    return response, b"".join(response)


@pytest.mark.django_db
def test_the_usage_is_recorded_once_the_answer_is_sent(api, user):
    with _server_side():
        response, body = _serve(user, HELLO)

        assert response.status_code == 200
        answer = json.loads(body)
        assert answer["content"] == "Echo: a b"
        assert not AIUsage.objects.exists()  # the answer went out first
        assert ai_tokens_this_month(user=user) == 0

        response.close()

    total = answer["usage"]["total_tokens"]
    row = AIUsage.objects.get()
    assert (row.user_id, row.endpoint, row.success, row.total_tokens) == (
        user.pk,
        "completions",
        True,
        total,
    )
    assert row.latency_ms <= answer["latency_ms"] + 1  # the call's time, not the sending's
    assert ai_tokens_this_month(user=user) == total
    metrics = api.as_user(user).get("/api/v1/app/usage/summary").json()["metrics"]
    assert (metrics["ai_requests"], metrics["ai_tokens"]) == (1, total)


@pytest.mark.django_db
def test_closing_the_answer_twice_records_it_once(user):
    with _server_side():
        response, _ = _serve(user, HELLO)
        response.close()
        response.close()

    assert AIUsage.objects.count() == 1


@pytest.mark.django_db
def test_a_user_at_the_allowance_once_an_answer_is_closed_is_refused(user, free_allowance):
    free_allowance(5)  # "a b": 2 prompt + 3 completion tokens
    with _server_side():
        first, _ = _serve(user, HELLO)
        first.close()
        refused, body = _serve(user, HELLO)
        refused.close()

    assert first.status_code == 200
    assert refused.status_code == 429
    assert json.loads(body)["error"]["details"]["used"] == 5
    assert AIUsage.objects.count() == 1


@pytest.mark.django_db
def test_a_malformed_provider_answer_is_recorded_before_the_error(settings, user):
    with FakeAI.running() as fake:
        use_fake_ai(settings, fake, "openai")
        fake.push(Reply(body={"choices": [], "usage": {"prompt_tokens": 3}}))
        with _server_side():
            response, body = _serve(user, HELLO)

            assert response.status_code == 502
            assert json.loads(body)["error"]["code"] == "EXTERNAL_SERVICE_ERROR"
            row = AIUsage.objects.get()
            assert (row.provider, row.success, row.error_code, row.total_tokens) == (
                "openai",
                False,
                "EXTERNAL_SERVICE_ERROR",
                0,
            )
            response.close()

    assert AIUsage.objects.count() == 1


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_the_server_records_a_completion_after_answering(live_database_url):
    subject = f"live|{uuid.uuid4()}"
    token = mint_development_token(email="answer@example.com", subject=subject)
    with FakeAI.running() as fake:
        fake.reply("Hi there", prompt_tokens=7, completion_tokens=2)
        env = {
            "DATABASE_URL": live_database_url,
            "OPENAI_API_KEY": OPENAI_KEY,
            "OPENAI_BASE_URL": f"{fake.url}/v1",
            "AI_DEFAULT_PROVIDER": "openai",
            "AI_FALLBACK_PROVIDERS": "",
            "RATE_LIMIT_AI": "100/minute",
        }
        with live_server(env) as url:
            status, _, body = request(
                "POST",
                url + COMPLETIONS,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
                body=json.dumps(HELLO).encode(),
            )

            answer = json.loads(body)
            assert status == 200, answer
            assert (answer["content"], answer["usage"]["total_tokens"]) == ("Hi there", 9)
            rows = wait_for(
                lambda: live_usage_rows(
                    live_database_url, subject, "provider", "success", "total_tokens"
                ),
                what="the completion's usage row",
                log=lambda: read_log(url),
                timeout=10,
            )

    assert rows == [("openai", True, 9)]
