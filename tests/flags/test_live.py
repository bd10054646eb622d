"""A flag changed in the admin reaches a separate server process within seconds (one Redis)."""

from __future__ import annotations

import json
import os
import time
import uuid

import pytest
from django.conf import settings
from django.db import connection

from accounts.tokens import mint_development_token
from flags.models import Flag
from flags.selectors import MEMO_SECONDS
from tests.live import live_server, request

FLAGS = "/api/v1/app/flags"


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis (REDIS_URL)")
def test_a_change_in_the_admin_reaches_another_server_within_seconds(
    client, staff, live_database_url
):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the server process must see the rows this test writes")
    flag = Flag.objects.create(key="new-editor", description="The new editor.")
    token = mint_development_token(email="live@example.com", subject=f"live|{uuid.uuid4()}")
    headers = {"Authorization": f"Bearer {token}"}
    env = {
        "DATABASE_URL": live_database_url,
        "REDIS_URL": os.environ["REDIS_URL"],
        "CACHE_KEY_PREFIX": settings.CACHE_KEY_PREFIX,
    }

    def answer(base: str) -> dict[str, bool]:
        status, _, body = request("GET", base + FLAGS, headers=headers)
        assert status == 200, body
        flags: dict[str, bool] = json.loads(body)["flags"]
        return flags

    with live_server(env) as server:
        assert answer(server) == {"new-editor": False}  # the server now holds its own copy

        response = client.post(
            f"/admin/flags/flag/{flag.pk}/change/",
            {
                "key": "new-editor",
                "description": "The new editor.",
                "everyone": "on",
                "percent": "0",
                "expires_at_0": "",
                "expires_at_1": "",
            },
        )
        assert response.status_code == 302, response.content
        saved = time.monotonic()
        while answer(server) != {"new-editor": True}:
            assert time.monotonic() - saved < MEMO_SECONDS + 3, "the change never arrived"
            time.sleep(0.1)
