"""Cache settings: Redis (REDIS_URL) or, without it, an in-process cache; both count hits and
misses."""

from __future__ import annotations

from config.settings.core import IS_DEPLOYED, env

REDIS_URL = env.str("REDIS_URL")
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", "groundwork")
if REDIS_URL:
    CACHES = {
        "default": {
            # django-redis, counting gets, hits and misses (django_cache_* metrics).
            "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {
                # Short timeouts: a Redis outage must degrade requests, not hang them.
                "SOCKET_CONNECT_TIMEOUT": 1,
                "SOCKET_TIMEOUT": 1,
            },
        }
    }
else:
    CACHES = {
        "default": {
            # Django's LocMemCache, counting gets, hits and misses (django_cache_* metrics).
            "BACKEND": "config.metrics.InstrumentedLocMemCache",
            "LOCATION": "groundwork",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
        }
    }
if IS_DEPLOYED and not REDIS_URL:
    env.problems.append("REDIS_URL is required (cache, shared rate limits, Celery broker).")
