"""Tickets (API.md §9): `POST /api/v1/app/ws/ticket` for browsers, then `?ticket=` on the socket:
single use, valid 60 seconds, bound to the user it was issued to."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone
from freezegun import freeze_time

from accounts.services import user_deactivate
from tests.realtime.conftest import (
    connected,
    error_code,
    needs_redis,
    refused,
    run,
    socket,
    without_redis,
)

TICKET = "/api/v1/app/ws/ticket"

pytestmark = pytest.mark.django_db


def issue(api, user) -> str:
    response = api.as_user(user).post(TICKET)
    assert response.status_code == 201, response.content
    return str(response.json()["ticket"])


def test_a_ticket_is_issued_to_a_signed_in_user(api, user):
    response = api.as_user(user).post(TICKET)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"ticket", "expires_in"}
    assert body["expires_in"] == 60
    assert isinstance(body["ticket"], str) and len(body["ticket"]) >= 24


def test_each_ticket_is_new(api, user):
    assert issue(api, user) != issue(api, user)


def test_no_ticket_without_a_token(api):
    response = api.post(TICKET)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"


def test_no_ticket_for_an_impersonation_session(api, impersonation_token):
    response = api.with_token(impersonation_token).post(TICKET)

    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "AUTHORIZATION_ERROR"


def test_a_ticket_opens_a_socket_as_its_user(api, user, other_user):
    ticket = issue(api, user)

    async def scenario():
        sock = socket(query=f"ticket={ticket}")
        frame = await connected(sock)
        assert frame["data"]["user_id"] == user.pk
        # Bound to its user: the socket is on that user's channel and on no one else's.
        await sock.send_frame({"type": "subscribe", "channel": f"user:{user.pk}"})
        assert await sock.frame() == {"type": "subscribed", "channel": f"user:{user.pk}"}
        await sock.send_frame({"type": "subscribe", "channel": f"user:{other_user.pk}"})
        assert error_code(await sock.frame()) == "NOT_FOUND"
        await sock.disconnect()

    run(scenario)


def test_a_ticket_works_once(api, user):
    ticket = issue(api, user)

    async def scenario():
        first = socket(query=f"ticket={ticket}")
        await connected(first)
        assert await refused(socket(query=f"ticket={ticket}")) == 4401
        await first.disconnect()
        assert await refused(socket(query=f"ticket={ticket}")) == 4401

    run(scenario)


def test_of_two_sockets_racing_with_one_ticket_one_gets_in(api, user):
    ticket = issue(api, user)

    async def scenario():
        racers = [socket(query=f"ticket={ticket}"), socket(query=f"ticket={ticket}")]
        await asyncio.gather(*(racer.connect() for racer in racers))
        first = [await racer.receive_output() for racer in racers]
        assert sorted(output["type"] for output in first) == ["websocket.close", "websocket.send"]
        [closed] = [output for output in first if output["type"] == "websocket.close"]
        assert closed["code"] == 4401
        for racer in racers:
            await racer.disconnect()

    run(scenario)


@pytest.mark.parametrize("ticket", ["not-a-ticket", "x" * 65, ""])
def test_an_unknown_ticket_closes_with_4401(db, ticket):
    async def scenario():
        assert await refused(socket(query=f"ticket={ticket}")) == 4401

    run(scenario)


@without_redis  # freezegun moves this process's clock, not the expiry Redis keeps
def test_an_expired_ticket_closes_with_4401(api, user):
    with freeze_time(timezone.now() - timedelta(seconds=61)):
        ticket = issue(api, user)

    async def scenario():
        assert await refused(socket(query=f"ticket={ticket}")) == 4401

    run(scenario)


@without_redis
def test_a_ticket_is_still_good_just_before_it_expires(api, user):
    with freeze_time(timezone.now() - timedelta(seconds=55)):
        ticket = issue(api, user)

    async def scenario():
        sock = socket(query=f"ticket={ticket}")
        await connected(sock)
        await sock.disconnect()

    run(scenario)


@needs_redis
def test_a_ticket_lives_60_seconds_in_redis(api, user):
    ticket = issue(api, user)

    ttl = cache.ttl(f"ws:ticket:{ticket}")

    assert 55 <= ttl <= 60


def test_a_ticket_of_a_user_deactivated_since_closes_with_4403(api, user):
    ticket = issue(api, user)
    user_deactivate(user=user)

    async def scenario():
        assert await refused(socket(query=f"ticket={ticket}")) == 4403

    run(scenario)


def test_a_bearer_token_wins_over_a_ticket(api, user, other_user):
    ticket = issue(api, other_user)

    async def scenario():
        sock = socket(user=user, query=f"ticket={ticket}")
        assert (await connected(sock))["data"]["user_id"] == user.pk
        await sock.disconnect()

    run(scenario)
