"""The `django_http_*` series every request records (config.metrics.HttpMetrics), read from the
app's own scrape: the ones the dashboards, runbooks and the live test read."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

ME = "/api/v1/app/users/me"

pytestmark = pytest.mark.django_db


@pytest.fixture
def samples(settings):
    """A function returning the scrape's samples as {(name, labels): value}."""
    settings.METRICS_TOKEN = ""

    def read() -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        text = Client().get("/api/v1/public/metrics").content.decode()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    return read


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_a_request_is_counted_by_method_status_and_view_and_timed(api, user, samples):
    client = api.as_user(user)
    client.get(ME)  # the first one records the sign-in
    before = samples()

    assert client.get(ME).status_code == 200
    assert client.get("/api/v1/app/nothing-here").status_code == 404
    after = samples()

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    # The scrape between the two reads is a GET answered 200 too.
    assert grew("django_http_requests_total_by_method_total", method="GET") == 3
    assert grew("django_http_responses_total_by_status_total", status="200") == 2
    assert grew("django_http_responses_total_by_status_total", status="404") == 1
    status_view_method = "django_http_responses_total_by_status_view_method_total"
    assert grew(status_view_method, status="200", view="users-me", method="GET") == 1
    not_found = [
        key for key in after if key[0] == status_view_method and ("status", "404") in key[1]
    ]
    assert sum(after[key] - before.get(key, 0) for key in not_found) == 1
    by_view = "django_http_requests_latency_seconds_by_view_method_count"
    assert grew(by_view, view="users-me", method="GET") == 1
    assert grew("django_http_requests_latency_including_middlewares_seconds_count") == 3
    assert _value(
        after, "django_http_requests_latency_including_middlewares_seconds_bucket", le="+Inf"
    ) == _value(after, "django_http_requests_latency_including_middlewares_seconds_count")


@pytest.mark.urls("tests.config.urls")
def test_an_unhandled_exception_is_counted_by_type_and_view(samples):
    before = samples()

    response = Client(raise_request_exception=False).get("/api/v1/public/test-failure")

    assert response.status_code == 500
    after = samples()
    by_type = (
        "django_http_exceptions_total_by_type_total",
        frozenset({("type", "ZeroDivisionError")}),
    )
    assert after.get(by_type, 0) - before.get(by_type, 0) == 1
    assert (
        sum(
            value - before.get(key, 0)
            for key, value in after.items()
            if key[0] == "django_http_exceptions_total_by_view_total"
        )
        == 1
    )
    assert (
        _value(after, "django_http_responses_total_by_status_total", status="500")
        - _value(before, "django_http_responses_total_by_status_total", status="500")
        == 1
    )
