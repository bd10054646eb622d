"""Traces: spans of a request reach an OTLP collector (a local stand-in), and the request's log
lines carry its trace id."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from accounts.tokens import mint_development_token
from tests.live import request
from tests.observability.servers import Receiver, json_lines
from tests.processes import gunicorn, wait_for


def exported_spans(receiver: Receiver) -> list[tuple[dict, object]]:
    """(resource attributes, span) of every span the collector received."""
    spans: list[tuple[dict, object]] = []
    for received in receiver.requests:
        assert received.path == "/v1/traces"
        assert received.headers["content-type"] == "application/x-protobuf"
        export = ExportTraceServiceRequest.FromString(received.body)
        for resource_spans in export.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                spans.extend((resource, span) for span in scope_spans.spans)
    return spans


def attributes(span) -> dict[str, object]:
    return {a.key: a.value.string_value or a.value.int_value for a in span.attributes}


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_a_request_is_traced_and_its_log_lines_carry_the_trace_id(live_database_url, tmp_path):
    request_id = f"trace-{uuid.uuid4().hex}"
    token = mint_development_token(email=f"traced-{uuid.uuid4().hex[:8]}@example.com")
    with Receiver() as collector:
        env = {
            "DATABASE_URL": live_database_url,
            "REDIS_URL": "",
            "CELERY_BROKER_URL": "",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_SERVICE_NAME": "groundwork-test",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
            "LOG_FORMAT": "json",
        }
        with gunicorn(env, log_path=tmp_path / "server.log", workers=2, config_file=True) as server:
            status, _, body = request(
                "GET",
                server.url + "/api/v1/app/projects",
                headers={"X-Request-ID": request_id, "Authorization": f"Bearer {token}"},
            )
            assert status == 200, body

            def server_span():
                for resource, span in exported_spans(collector):
                    if span.kind == span.SPAN_KIND_SERVER and "projects" in span.name:
                        return resource, span
                return None

            resource, span = wait_for(server_span, what="the request's span", log=server.log)
            log = server.log()

    assert resource["service.name"] == "groundwork-test"
    assert span.name == "GET api/v1/app/projects"
    assert (
        attributes(span).get("http.response.status_code", attributes(span).get("http.status_code"))
        == 200
    )
    trace_id = span.trace_id.hex()
    if connection.vendor == "postgresql":
        # Its queries are child spans of the same trace (psycopg instrumentation, pooled).
        children = [s for _, s in exported_spans(collector) if s.trace_id == span.trace_id]
        assert any(
            attributes(s).get("db.system") == "postgresql"
            or attributes(s).get("db.system.name") == "postgresql"
            for s in children
        ), [s.name for s in children]
    lines = [line for line in json_lines(log) if line.get("request_id") == request_id]
    assert lines, log[-3000:]
    assert {line["trace_id"] for line in lines} == {trace_id}
    assert all(line["span_id"] for line in lines)
