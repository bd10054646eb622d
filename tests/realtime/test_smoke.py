from tests.realtime.conftest import connected, run, socket


def test_connect_ping_subscribe(user, other_user, db):
    async def scenario():
        sock = socket(user=user)
        frame = await connected(sock)
        assert frame["data"]["user_id"] == str(user.pk)
        await sock.send_frame({"type": "ping", "id": 7})
        assert await sock.frame() == {"type": "pong", "id": 7}
        await sock.send_frame({"type": "subscribe", "channel": f"user:{other_user.pk}"})
        error = await sock.frame()
        assert error["error"]["code"] == "NOT_FOUND"
        await sock.send_to(text_data="{nope")
        assert (await sock.frame())["error"]["code"] == "INVALID_JSON"
        await sock.disconnect()

    run(scenario)
