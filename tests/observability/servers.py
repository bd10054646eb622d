"""For the observability tests: a local HTTP receiver standing in for Sentry and an OTLP
collector, the JSON lines among a process's output, and a metrics scrape. The processes
(gunicorn with config/gunicorn.py, a Celery worker) come from tests/processes.py."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.fakes import Answer, FakeServer, Request
from tests.live import request


def json_lines(text: str) -> list[dict[str, Any]]:
    """The JSON objects among a process's output lines (banners and tracebacks skipped)."""
    records = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return records


class Receiver(FakeServer):
    """A local HTTP server that records every request and answers 200 (Sentry, OTLP collector)."""

    def answer(self, request: Request) -> Answer:
        return 200, {}


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, token: str | None = None) -> tuple[str, Samples]:
    """GET /metrics: the text and every sample by (name, labels)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, _, body = request("GET", url + "/api/v1/public/metrics", headers=headers)
    assert status == 200, body[:500]
    text = body.decode()
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples named `name` whose labels include `labels` (0 when none)."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)
