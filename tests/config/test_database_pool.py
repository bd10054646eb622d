"""The pool's check: no round trip for a healthy connection, a dead one noticed and refused."""

from __future__ import annotations

import time

import psycopg
import pytest
from django.conf import settings

from config.postgresql.base import check_pooled_connection
from tests import live

pytestmark = pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
    reason="the pool serves PostgreSQL only",
)


def _last_query(observer: psycopg.Connection, pid: int) -> str:
    row = observer.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.django_db
def test_a_healthy_connection_is_handed_out_without_a_query() -> None:
    url = live.test_database_url()
    with psycopg.connect(url, autocommit=True) as pooled, psycopg.connect(url) as observer:
        pooled.execute("SELECT 1 AS last_statement")
        check_pooled_connection(pooled)
        check_pooled_connection(pooled)
        assert _last_query(observer, pooled.info.backend_pid) == "SELECT 1 AS last_statement"


@pytest.mark.django_db
def test_a_connection_the_server_ended_is_refused() -> None:
    url = live.test_database_url()
    with psycopg.connect(url, autocommit=True) as pooled, psycopg.connect(url) as observer:
        observer.execute("SELECT pg_terminate_backend(%s)", [pooled.info.backend_pid])
        deadline = time.monotonic() + 5
        with pytest.raises(psycopg.OperationalError):
            while time.monotonic() < deadline:
                check_pooled_connection(pooled)
                time.sleep(0.05)


@pytest.mark.django_db
def test_a_closed_connection_is_refused() -> None:
    pooled = psycopg.connect(live.test_database_url(), autocommit=True)
    pooled.close()
    with pytest.raises(psycopg.OperationalError):
        check_pooled_connection(pooled)
