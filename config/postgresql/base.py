"""django-prometheus's PostgreSQL backend whose pool checks connections without a round trip.

Django's pool runs psycopg_pool's check (an empty query) on every connection it hands out when
`CONN_HEALTH_CHECKS` is on: one round trip to the database per request. This engine's pool looks
at the socket first. An idle connection has nothing to read, so a readable socket means the
server has spoken or hung up (a restart or a terminated backend sends its goodbye and closes);
only then does the full check run, which raises for a dead connection, and the pool replaces it.
A healthy connection costs a poll; a restarted database is still noticed before a request uses a
dead connection (tests/faults).
"""

from __future__ import annotations

import functools
import select
from typing import Any

from django.db.backends.postgresql import base as django_base
from django_prometheus.db.backends.postgresql import base
from django_prometheus.db.common import ExportingCursorWrapper
from psycopg_pool import ConnectionPool

# django-prometheus builds its counting cursor class on every connect (each request, with the
# pool); it depends only on these arguments, so it is built once.
_exporting_cursor = functools.cache(ExportingCursorWrapper)


def check_pooled_connection(connection: Any) -> None:
    """Raise when `connection` is unusable; no round trip while its socket is quiet."""
    try:
        quiet = not connection.closed and not select.select([connection.fileno()], [], [], 0)[0]
    except (OSError, ValueError):
        quiet = False
    if not quiet:
        ConnectionPool.check_connection(connection)


class DatabaseWrapper(base.DatabaseWrapper):
    """PostgreSQL with query metrics, whose pool uses `check_pooled_connection`."""

    def get_connection_params(self) -> dict[str, Any]:
        params: dict[str, Any] = django_base.DatabaseWrapper.get_connection_params(self)
        params["cursor_factory"] = _exporting_cursor(
            params["cursor_factory"], self.alias, self.vendor
        )
        return params

    @property
    def pool(self) -> ConnectionPool | None:
        pool: ConnectionPool | None = super().pool
        # Django passes psycopg_pool's own check (or none) when it creates the pool, and a
        # `check` in OPTIONS["pool"] would be passed twice; the pool reads this attribute at
        # each hand-out.
        if pool is not None and self.settings_dict["CONN_HEALTH_CHECKS"]:
            pool._check = check_pooled_connection
        return pool
