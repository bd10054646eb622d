"""The raw Redis client behind the default cache, for pipelines django-redis does not offer.

Keys written through it carry the cache's prefix and version (`full_key`), so the cache API
reads what a pipeline wrote (django-redis stores integers unpickled).
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache, caches
from django_redis import get_redis_connection
from django_redis.cache import RedisCache


def redis_client() -> Any | None:
    """The raw client of the default cache, or None when the cache is not Redis."""
    if isinstance(caches["default"], RedisCache):
        return get_redis_connection("default")
    return None


def full_key(key: str) -> str:
    """`key` as the default cache stores it (prefix and version), for the raw client."""
    return str(cache.make_key(key))
