"""GET /api/v1/public/metrics: a live scrape of gunicorn's workers added up, the token guard."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from accounts.tokens import mint_development_token
from tests.live import request
from tests.observability.servers import scrape, value
from tests.processes import gunicorn

SUPABASE_SECRET = "supabase-webhook-test-secret-0123"
BAD_TOKEN_REQUESTS = 8


def token_for(name: str) -> str:
    return mint_development_token(email=f"{name}-{uuid.uuid4().hex[:8]}@example.com")


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_live_scrape_adds_up_every_worker_and_shows_the_http_and_business_series(
    live_database_url, tmp_path
):
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env = {
        "DATABASE_URL": live_database_url,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "REDIS_URL": "",
        "CELERY_BROKER_URL": "",
        "RATE_LIMIT_DEFAULT": "2/minute",
        "SUPABASE_WEBHOOK_SECRET": SUPABASE_SECRET,
        "LOG_FORMAT": "json",
    }
    with gunicorn(env, log_path=tmp_path / "server.log", workers=2, config_file=True) as server:
        url = server.url
        # Credentials that are not a Bearer JWT: refused before anything else, on either worker.
        for _ in range(BAD_TOKEN_REQUESTS):
            status, _, _ = request(
                "GET", url + "/api/v1/app/projects", headers={"Authorization": "Bearer not-a-jwt"}
            )
            assert status == 401
        # One user over the default limit (each worker counts in its own memory here).
        throttled_user = token_for("throttled")
        statuses = [
            request(
                "GET",
                url + "/api/v1/app/projects",
                headers={"Authorization": f"Bearer {throttled_user}"},
            )[0]
            for _ in range(8)
        ]
        assert set(statuses) <= {200, 429} and 429 in statuses
        # A webhook event, processed in the request (no broker): no handler for this table.
        body = json.dumps(
            {"type": "INSERT", "schema": "public", "table": "notes", "record": {"id": 1}}
        ).encode()
        status, _, answer = request(
            "POST",
            url + "/api/v1/public/webhooks/supabase",
            headers={
                "Authorization": f"Bearer {SUPABASE_SECRET}",
                "Content-Type": "application/json",
            },
            body=body,
        )
        assert status == 200, answer
        # An AI call with the offline echo provider.
        status, _, answer = request(
            "POST",
            url + "/api/v1/app/ai/chat",
            headers={
                "Authorization": f"Bearer {token_for('ai')}",
                "Content-Type": "application/json",
            },
            body=json.dumps({"prompt": "Say hello to the metrics"}).encode(),
        )
        assert status == 200, answer
        completion = json.loads(answer)

        # The AI call's figures are recorded once its answer is sent (ai.views): a scrape that
        # overtakes them on the other worker is repeated.
        deadline = time.monotonic() + 10
        while True:
            text, samples = scrape(url)
            recorded = value(samples, "groundwork_ai_requests_total", outcome="success")
            if recorded or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        workers = server.children()  # the master's worker processes

    # Every worker served traffic and wrote its own files; the scrape adds them up exactly.
    assert len(workers) == 2
    written_by = {path.stem.rsplit("_", 1)[-1] for path in metrics_dir.glob("*.db")}
    assert {str(pid) for pid in workers} <= written_by, (workers, written_by)
    assert value(samples, "groundwork_auth_failures_total", reason="malformed") == (
        BAD_TOKEN_REQUESTS
    )
    assert value(samples, "groundwork_rate_limit_hits_total", scope="default") == statuses.count(
        429
    )
    assert value(samples, "django_http_responses_total_by_status_total", status="401") == (
        BAD_TOKEN_REQUESTS
    )
    assert value(samples, "django_http_responses_total_by_status_total", status="429") == (
        statuses.count(429)
    )
    assert value(samples, "django_http_requests_total_by_method_total", method="GET") >= 16
    assert value(samples, "django_http_requests_latency_seconds_by_view_method_count") >= 18
    assert value(samples, "django_db_execute_total") > 0
    assert value(samples, "django_db_query_duration_seconds_count") > 0
    assert value(samples, "django_cache_get_total", backend="locmem") > 0

    webhook = {"provider": "supabase", "event_type": "public.notes.INSERT", "outcome": "ignored"}
    assert value(samples, "groundwork_webhook_events_total", **webhook) == 1
    assert value(samples, "groundwork_webhook_processing_seconds_count", provider="supabase") == 1
    assert (
        value(
            samples,
            "groundwork_jobs_total",
            task="webhooks.tasks.process_webhook_event",
            outcome="succeeded",
        )
        == 1
    )
    ai = {"provider": "echo", "model": completion["model"]}
    assert value(samples, "groundwork_ai_requests_total", outcome="success", **ai) == 1
    usage = completion["usage"]
    assert (
        value(samples, "groundwork_ai_tokens_total", kind="prompt", **ai)
        == (usage["prompt_tokens"])
    )
    assert (
        value(samples, "groundwork_ai_tokens_total", kind="completion", **ai)
        == (usage["completion_tokens"])
    )
    assert value(samples, "groundwork_ai_latency_seconds_count", **ai) == 1
    assert "# TYPE groundwork_ai_latency_seconds histogram" in text


def test_the_metrics_token_guards_the_scrape(api, settings):
    settings.METRICS_TOKEN = "metrics-token-0123456789"

    missing = api.get("/api/v1/public/metrics")
    wrong = api.get("/api/v1/public/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-0000000000")
    not_bearer = api.get("/api/v1/public/metrics", HTTP_AUTHORIZATION="metrics-token-0123456789")
    right = api.get("/api/v1/public/metrics", HTTP_AUTHORIZATION="Bearer metrics-token-0123456789")

    for refused in (missing, wrong, not_bearer):
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "AUTHENTICATION_ERROR"
        assert refused["WWW-Authenticate"] == "Bearer"
    assert right.status_code == 200
    assert right["Content-Type"].startswith("text/plain")
    assert b"# TYPE groundwork_auth_failures_total counter" in right.content


def test_without_a_token_the_scrape_is_open_and_never_throttled(api, settings):
    settings.METRICS_TOKEN = ""
    settings.RATE_LIMITS = {"default": "1/minute", "ai": "1/minute"}

    statuses = {api.get("/api/v1/public/metrics").status_code for _ in range(3)}

    assert statuses == {200}
