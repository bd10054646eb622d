"""Deployments sharing one Redis server keep their events apart, whichever database each uses:
Redis pub/sub channels are server-wide, so the channel layer's prefix names the database."""

from __future__ import annotations

import pytest

from tests.live import run_manage

PRINT_PREFIX = (
    "from django.conf import settings; "
    "print(settings.CHANNEL_LAYERS['default']['CONFIG']['prefix'])"
)


@pytest.mark.standalone
def test_two_databases_of_one_redis_get_channel_prefixes_of_their_own():
    prefixes = {
        url: run_manage({"REDIS_URL": url}, "shell", "-c", PRINT_PREFIX).stdout.split()[-1]
        for url in (
            "redis://127.0.0.1:6379/3",
            "redis://127.0.0.1:6379/4",
            "redis://127.0.0.1:6379",
        )
    }

    assert prefixes == {
        "redis://127.0.0.1:6379/3": "groundwork:rt:3:",
        "redis://127.0.0.1:6379/4": "groundwork:rt:4:",
        "redis://127.0.0.1:6379": "groundwork:rt:0:",
    }
