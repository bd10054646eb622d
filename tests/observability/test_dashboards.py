"""The Grafana dashboards query only metrics that a live /metrics scrape really has."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from accounts.tokens import mint_development_token
from tests.live import BASE_DIR, live_server, request

DASHBOARDS = sorted((BASE_DIR / "docker" / "grafana" / "dashboards").glob("*.json"))

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
PROMQL_WORDS |= {"and", "or", "unless", "le", "inf", "nan"}


def expressions(path: Path) -> list[str]:
    dashboard = json.loads(path.read_text())
    return [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]


def metric_names(expr: str) -> set[str]:
    """The series names an expression selects (functions, grouping labels and matchers removed)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)  # strings
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        following = expr[match.end() :].lstrip()
        if following.startswith("("):
            continue  # a function or an aggregation
        if match.group().lower() not in PROMQL_WORDS:
            names.add(match.group())
    return names


def exported_series(text: str) -> set[str]:
    """Every series name the exposition can carry, from its `# TYPE` lines."""
    names = set()
    for line in text.splitlines():
        if not line.startswith("# TYPE "):
            continue
        _, _, name, kind = line.split(" ", 3)
        if kind == "histogram":
            names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
        elif kind == "counter":
            names.add(name if name.endswith("_total") else f"{name}_total")
        else:
            names.add(name)
    return names


def test_there_are_three_dashboards_and_the_parser_finds_their_metrics():
    assert [path.name for path in DASHBOARDS] == [
        "api-overview.json",
        "business-metrics.json",
        "database-redis.json",
    ]
    found = metric_names(
        'histogram_quantile(0.95, sum by (le, view) (rate(a_seconds_bucket{view=~"x"}[5m])))'
        " / sum(rate(b_total[$__rate_interval]))"
    )
    assert found == {"a_seconds_bucket", "b_total"}


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_every_metric_a_dashboard_queries_is_exported(live_database_url):
    token = mint_development_token(email=f"dash-{uuid.uuid4().hex[:8]}@example.com")
    env = {"DATABASE_URL": live_database_url, "REDIS_URL": "", "CELERY_BROKER_URL": ""}
    with live_server(env) as url:
        status, _, _ = request(
            "GET", url + "/api/v1/app/projects", headers={"Authorization": f"Bearer {token}"}
        )
        assert status == 200  # the database and cache series exist once used
        status, _, body = request("GET", url + "/api/v1/public/metrics")
    assert status == 200
    exported = exported_series(body.decode())

    missing = {
        f"{path.name}: {name}"
        for path in DASHBOARDS
        for expr in expressions(path)
        for name in metric_names(expr)
        if name not in exported
    }
    assert not missing, sorted(missing)
    referenced = {
        name for path in DASHBOARDS for e in expressions(path) for name in metric_names(e)
    }
    assert {"groundwork_jobs_total", "groundwork_emails_sent_total"} <= referenced
    assert any(name.startswith("django_db_") for name in referenced)
    assert any(name.startswith("django_cache_") for name in referenced)
