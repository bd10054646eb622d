"""Database settings: DATABASE_URL (SQLite by default), PostgreSQL's connection pool, query
metrics."""

from __future__ import annotations

from typing import Any

from config.settings.core import BASE_DIR, IS_DEPLOYED, env

DATABASES: dict[str, dict[str, Any]] = {
    "default": env.db("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
}
# django-prometheus's engines: Django's own backends that also count queries, errors and latency.
DATABASES["default"]["ENGINE"] = DATABASES["default"]["ENGINE"].replace(
    "django.db.backends.", "django_prometheus.db.backends.", 1
)
DATABASE_IS_SQLITE = DATABASES["default"]["ENGINE"].endswith("sqlite3")
if DATABASE_IS_SQLITE:
    # Tests on SQLite run in memory, as Django's own backend does by default; said explicitly
    # because pytest-xdist would otherwise name a file per worker after the engine's path.
    DATABASES["default"].setdefault("TEST", {}).setdefault("NAME", ":memory:")
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # psycopg 3 with Django's own connection pool; CONN_MAX_AGE must stay 0 with a pool. The
    # engine (config/postgresql) is django-prometheus's, whose pool checks each connection it
    # hands out with a socket poll (a query only when the server has spoken or hung up): after
    # a database restart requests get new connections instead of failing on dead ones
    # (tests/faults), and a healthy connection costs no round trip.
    DATABASES["default"]["ENGINE"] = "config.postgresql"
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})
    # Short waits: with the database down, a request (and readiness) must fail with a 503 in a
    # few seconds, not hold a worker thread (tests/faults).
    DATABASES["default"]["OPTIONS"]["connect_timeout"] = env.int(
        "DATABASE_CONNECT_TIMEOUT", 3, minimum=1
    )
    if env.bool("DATABASE_POOL", True):
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN_SIZE", 1, minimum=0),
            "max_size": env.int("DATABASE_POOL_MAX_SIZE", 10, minimum=1),
            # How long a request waits for a connection (the pool cannot make one while the
            # database is down); a gthread worker never has more threads than the pool has room.
            "timeout": env.int("DATABASE_POOL_TIMEOUT", 3, minimum=1),
            # psycopg retries a failed connect with a doubling delay until this many seconds
            # have passed, then the next request starts afresh: kept short, so a restarted
            # database is used again within seconds rather than after a delay grown to minutes.
            "reconnect_timeout": env.int("DATABASE_POOL_RECONNECT_TIMEOUT", 4, minimum=1),
        }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", 0, minimum=0)
if IS_DEPLOYED and DATABASE_IS_SQLITE:
    env.problems.append("DATABASE_URL must point at PostgreSQL (SQLite is for development).")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
