"""Opening the socket (API.md §9): Bearer credentials, the close codes of a refused handshake,
the Origin rule, and the log lines and metrics of a socket."""

from __future__ import annotations

import logging

import jwt
import pytest
from django.conf import settings as django_settings
from prometheus_client import REGISTRY

from accounts.tokens import mint_development_token
from tests.factories import UserFactory
from tests.realtime.conftest import bearer_token, connected, refused, run, socket

pytestmark = pytest.mark.django_db


def origin(value: str) -> list[tuple[bytes, bytes]]:
    return [(b"origin", value.encode())]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- Bearer credentials -----------------------------------------------------------------------


def test_a_bearer_token_opens_the_socket_as_its_user(user):
    async def scenario():
        sock = socket(user=user)
        frame = await connected(sock)
        assert frame == {
            "type": "connected",
            "data": {"user_id": user.pk, "connection_id": frame["data"]["connection_id"]},
        }
        assert len(frame["data"]["connection_id"]) >= 16
        again = socket(user=user)
        assert (await connected(again))["data"]["connection_id"] != frame["data"]["connection_id"]
        await sock.disconnect()
        await again.disconnect()

    run(scenario)


def test_without_credentials_the_socket_closes_with_4401(db):
    async def scenario():
        assert await refused(socket()) == 4401

    run(scenario)


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not-a-token",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
    ],
)
def test_a_malformed_authorization_closes_with_4401(db, authorization):
    async def scenario():
        sock = socket(headers=[(b"authorization", authorization.encode())])
        assert await refused(sock) == 4401

    run(scenario)


def test_an_expired_token_closes_with_4401(user):
    token = mint_development_token(email=user.email, subject=user.pk, ttl=-120)

    async def scenario():
        assert await refused(socket(headers=bearer_token(token))) == 4401

    run(scenario)


def test_a_token_signed_with_another_key_closes_with_4401(user):
    claims = jwt.decode(
        mint_development_token(email=user.email, subject=user.pk),
        options={"verify_signature": False},
    )
    forged = jwt.encode(claims, "not-" + django_settings.AUTH_JWT_SECRET, algorithm="HS256")

    async def scenario():
        assert await refused(socket(headers=bearer_token(forged))) == 4401

    run(scenario)


def test_a_deactivated_user_is_refused_with_4403(db):
    inactive = UserFactory(is_active=False)
    before = sample("groundwork_ws_auth_failures_total", reason="deactivated")

    async def scenario():
        assert await refused(socket(user=inactive)) == 4403

    run(scenario)
    assert sample("groundwork_ws_auth_failures_total", reason="deactivated") == before + 1


def test_an_impersonation_token_is_refused_with_4403(impersonation_token):
    before = sample("groundwork_ws_auth_failures_total", reason="impersonation")

    async def scenario():
        assert await refused(socket(headers=bearer_token(impersonation_token))) == 4403

    run(scenario)
    assert sample("groundwork_ws_auth_failures_total", reason="impersonation") == before + 1


# --- Origin -----------------------------------------------------------------------------------


def test_no_origin_is_a_native_client_and_is_accepted(user):
    async def scenario():
        sock = socket(user=user)
        await connected(sock)
        await sock.disconnect()

    run(scenario)


def test_an_allowed_cors_origin_is_accepted(user, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]

    async def scenario():
        sock = socket(user=user, headers=origin("https://app.example.com"))
        await connected(sock)
        await sock.disconnect()

    run(scenario)


def test_the_sites_own_host_is_accepted(user, settings):
    settings.CORS_ALLOWED_ORIGINS = []

    async def scenario():
        sock = socket(user=user, headers=[*origin("http://testserver"), (b"host", b"testserver")])
        await connected(sock)
        await sock.disconnect()

    run(scenario)


@pytest.mark.parametrize(
    "value", ["https://evil.example.com", "null", "https://app.example.com.evil.example"]
)
def test_a_foreign_origin_is_refused_at_the_handshake(user, settings, value):
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    before = sample("groundwork_ws_auth_failures_total", reason="origin")

    async def scenario():
        sock = socket(user=user, headers=[*origin(value), (b"host", b"testserver")])
        accepted, _ = await sock.connect()
        assert not accepted
        await sock.disconnect(code=1006)

    run(scenario)
    assert sample("groundwork_ws_auth_failures_total", reason="origin") == before + 1


# --- Log lines and metrics --------------------------------------------------------------------


def test_every_log_line_of_a_socket_names_its_connection_and_user(user, caplog):
    async def scenario():
        sock = socket(user=user)
        frame = await connected(sock)
        await sock.send_frame({"type": "ping"})
        await sock.frame()
        await sock.disconnect()
        return frame["data"]["connection_id"]

    with caplog.at_level(logging.DEBUG, logger="realtime"):
        connection_id = run(scenario)

    records = [record for record in caplog.records if record.name.startswith("realtime")]
    messages = [record.getMessage() for record in records]
    assert "websocket connected" in messages and "websocket disconnected" in messages
    for record in records:
        assert (record.connection_id, record.user_id) == (connection_id, user.pk), record


def test_a_refused_socket_logs_its_connection_and_why(db, caplog):
    async def scenario():
        assert await refused(socket()) == 4401

    with caplog.at_level(logging.INFO, logger="realtime"):
        run(scenario)

    [record] = [record for record in caplog.records if record.name.startswith("realtime")]
    assert "refused" in record.getMessage()
    assert record.connection_id


def test_metrics_count_sockets_frames_and_refusals(user):
    open_before = sample("groundwork_ws_connections")
    pings = sample("groundwork_ws_frames_total", type="ping", direction="in")
    pongs = sample("groundwork_ws_frames_total", type="pong", direction="out")
    missing = sample("groundwork_ws_auth_failures_total", reason="missing")

    async def scenario():
        sock = socket(user=user)
        await connected(sock)
        assert sample("groundwork_ws_connections") == open_before + 1
        await sock.send_frame({"type": "ping"})
        await sock.frame()
        await sock.disconnect()
        await refused(socket())

    run(scenario)
    assert sample("groundwork_ws_connections") == open_before
    assert sample("groundwork_ws_frames_total", type="ping", direction="in") == pings + 1
    assert sample("groundwork_ws_frames_total", type="pong", direction="out") == pongs + 1
    assert sample("groundwork_ws_auth_failures_total", reason="missing") == missing + 1
