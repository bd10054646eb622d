"""docker/nginx.conf and the compose services behind it: one public port, the WebSocket to the
realtime process, the AI calls to the stream pool, the rest to the web service.

The configuration is read as nginx reads it; with nginx installed (Debian's package), it also
serves a real WebSocket and real requests in front of local stand-ins for the services.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from websockets.asyncio.client import connect

from accounts.tokens import mint_development_token
from realtime.management.commands.realtime_serve import (
    CLOSE_HANDSHAKE_SECONDS,
    CLOSE_SECONDS,
    LIVENESS_PATH,
    server_config,
)
from tests.deployment.files import NGINX_CONF, NginxBlock, compose, nginx_config
from tests.fakes import FakeHandler, FakeServer, Request, free_port
from tests.processes import spawned, wait_for
from tests.realtime.live_servers import empty_database, realtime_server

WS_PATH = "/api/v1/app/ws"
AI_PREFIX = "/api/v1/app/ai/"


def _seconds(value: str) -> int:
    match = re.fullmatch(r"(\d+)(s|m)?", value)
    assert match, value
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def _server() -> NginxBlock:
    """The server block that listens on the public port."""
    servers = [s for s in nginx_config().children("server") if s.one("listen") == ["80"]]
    assert len(servers) == 1
    return servers[0]


def _location(path: str) -> NginxBlock:
    matches = [loc for loc in _server().children("location") if loc.args[-1] == path]
    assert len(matches) == 1, path
    return matches[0]


def _upstream(location: NginxBlock) -> str:
    """host:port a location proxies to (proxy_pass through a `set` variable)."""
    (target,) = location.one("proxy_pass")
    variables = {name: value for name, value in location.directives.get("set", [])}
    url = variables.get(target, target)
    assert url.startswith("http://"), url
    return url.removeprefix("http://")


def _command_port(service: str) -> str:
    command = compose()["services"][service]["command"]
    return str(command[command.index("--port") + 1])


def test_the_proxy_routes_the_socket_the_ai_calls_and_the_rest_to_their_services():
    services = compose()["services"]
    web_port = services["web"]["environment"]["GUNICORN_BIND"].rsplit(":", 1)[1]

    assert _location(WS_PATH).args == ["=", WS_PATH]  # exact: nothing else goes to realtime
    assert _location(AI_PREFIX).args == ["^~", AI_PREFIX]  # a prefix no regex can take over
    assert _upstream(_location(WS_PATH)) == f"realtime:{_command_port('realtime')}"
    assert _upstream(_location(AI_PREFIX)) == f"ai:{web_port}"
    assert _upstream(_location("/")) == f"web:{web_port}"
    assert not [loc for loc in _server().children("location") if "~" in loc.args[0][:1]]


def test_the_socket_route_upgrades_and_outlasts_the_idle_timeout():
    server = _server()
    (upgrade_map,) = [m for m in nginx_config().children("map") if m.args[0] == "$http_upgrade"]
    headers = {args[0].lower(): args[1] for args in server.directives["proxy_set_header"]}
    socket = _location(WS_PATH)

    assert server.one("proxy_http_version") == ["1.1"]
    assert headers["upgrade"] == "$http_upgrade"
    assert headers["connection"] == upgrade_map.args[1] == "$connection_upgrade"
    assert upgrade_map.directives == {"default": [["upgrade"]], "": [[""]]}
    # The host with its port: a browser's Origin is compared with it.
    assert headers["host"] == "$http_host"
    # A location with a proxy_set_header of its own would drop every header set above.
    assert all("proxy_set_header" not in loc.directives for loc in server.children("location"))
    idle = settings.WS_IDLE_TIMEOUT_SECONDS
    assert _seconds(socket.one("proxy_read_timeout")[0]) > idle
    assert _seconds(socket.one("proxy_send_timeout")[0]) > idle
    assert socket.one("proxy_buffering") == ["off"]


def test_ai_streams_are_passed_on_unbuffered_and_outlast_the_provider_timeout():
    ai = _location(AI_PREFIX)

    assert ai.one("proxy_buffering") == ["off"]
    assert _seconds(ai.one("proxy_read_timeout")[0]) > settings.AI_TIMEOUT_SECONDS
    # The app counts this proxy when it takes the client address from X-Forwarded-For.
    headers = {args[0].lower(): args[1] for args in _server().directives["proxy_set_header"]}
    assert headers["x-forwarded-for"] == "$proxy_add_x_forwarded_for"
    assert compose()["x-app-env"]["NUM_PROXIES"] == "${NUM_PROXIES:-1}"


def test_the_proxy_is_the_only_public_door_of_the_app():
    services = compose()["services"]
    proxy = services["proxy"]

    assert proxy["ports"] == ["8000:80"]
    assert "./nginx.conf:/etc/nginx/conf.d/default.conf:ro" in proxy["volumes"]
    for name in ("web", "ai", "realtime", "worker", "beat"):
        assert "ports" not in services[name], name
    # Its health check asks the health server of the configuration.
    (health,) = [s for s in nginx_config().children("server") if s.one("listen") != ["80"]]
    assert f"http://{health.one('listen')[0]}/health" in proxy["healthcheck"]["test"]


def test_the_realtime_service_runs_the_serve_command_and_outlives_its_graceful_shutdown():
    realtime = compose()["services"]["realtime"]
    port = _command_port("realtime")
    config = server_config(host="127.0.0.1", port=int(port))

    assert realtime["command"][:4] == ["python", "manage.py", "realtime_serve", "--host"]
    assert realtime["command"][4] == "0.0.0.0"  # noqa: S104 - the proxy reaches it over the network
    assert f"http://127.0.0.1:{port}{LIVENESS_PATH}" in realtime["healthcheck"]["test"][-1]
    shutdown = CLOSE_SECONDS + CLOSE_HANDSHAKE_SECONDS + config.timeout_graceful_shutdown
    assert _seconds(realtime["stop_grace_period"]) > shutdown


# --- nginx itself, in front of local stand-ins ---------------------------------------------


@dataclass
class Upstream(FakeServer):
    """A stand-in for web or ai: answers who it is; under /stream it sends one chunk, waits
    for `go` (the client has that chunk), then ends."""

    name: str = ""
    go: threading.Event = field(default_factory=threading.Event)
    protocol_version = "HTTP/1.1"

    def serve(self, handler: FakeHandler, request: Request) -> None:
        with self.lock:
            self.requests.append(request)
        if not request.path.endswith("/stream"):
            handler.send_json(200, {"served_by": self.name})
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for chunk in (b"data: first\n\n", None, b"data: last\n\n"):
            if chunk is None:
                self.go.wait(10)
                continue
            handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            handler.wfile.flush()
        handler.wfile.write(b"0\r\n\r\n")
        handler.wfile.flush()


def _local_config(tmp: Path, *, port: int, upstreams: dict[str, str]) -> Path:
    """docker/nginx.conf pointed at local servers, in a main configuration of its own."""
    site = NGINX_CONF.read_text().replace("listen 80;", f"listen 127.0.0.1:{port};")
    site = site.replace("listen 127.0.0.1:8081;", f"listen 127.0.0.1:{free_port()};")
    for host, url in upstreams.items():
        assert host in site, host
        site = site.replace(host, url)
    (tmp / "site.conf").write_text(site)
    main = tmp / "nginx.conf"
    main.write_text(
        f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
        f"http {{\n access_log off;\n client_body_temp_path {tmp}/body;\n"
        f" proxy_temp_path {tmp}/proxy;\n include {tmp}/site.conf;\n}}\n"
    )
    return main


@pytest.fixture(scope="module")
def proxied(live_database_url, tmp_path_factory, django_db_blocker) -> Iterator[dict[str, Any]]:
    """nginx with docker/nginx.conf in front of two stand-ins (web, ai) and a realtime process
    (which commits the users of its tokens: the tables are emptied afterwards)."""
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else "")
    if not nginx:
        pytest.skip("nginx is not installed (Debian's package)")
    port = free_port()
    with (
        Upstream.running(name="web") as web,
        Upstream.running(name="ai") as ai,
        realtime_server({"DATABASE_URL": live_database_url}) as realtime,
    ):
        config = _local_config(
            tmp_path_factory.mktemp("nginx"),
            port=port,
            upstreams={
                "http://web:8000": web.url,
                "http://ai:8000": ai.url,
                "http://realtime:8002": realtime.url,
            },
        )
        check = subprocess.run([nginx, "-t", "-c", str(config)], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        with spawned([nginx, "-c", str(config), "-g", "daemon off;"], {}) as process:
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: _answers(url), what="nginx", log=process.output)
            yield {"url": url, "web": web, "ai": ai, "realtime": realtime}
    empty_database(django_db_blocker)


def _answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url + "/ready", timeout=2).close()
    except OSError:
        return False
    return True


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.live
@pytest.mark.django_db
def test_nginx_with_this_configuration_routes_each_prefix_to_its_service(proxied):
    url = proxied["url"]
    web, ai = proxied["web"], proxied["ai"]
    host = url.removeprefix("http://")

    assert _get(url + "/api/v1/public/health") == {"served_by": "web"}
    assert _get(url + "/admin/login/") == {"served_by": "web"}
    assert _get(url + AI_PREFIX + "chat") == {"served_by": "ai"}
    # Only the socket's own path goes to realtime; its ticket is an API call.
    assert _get(url + WS_PATH + "/ticket") == {"served_by": "web"}
    seen = web.calls("GET", "/api/v1/public/health")[0].headers
    assert seen["host"] == host
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert "upgrade" not in seen and "connection" not in seen

    # A stream's first chunk reaches the client while the upstream still holds the rest.
    with urllib.request.urlopen(url + AI_PREFIX + "stream", timeout=10) as stream:
        assert stream.readline() == b"data: first\n"
        ai.go.set()
        assert stream.read() == b"\ndata: last\n\n"


@pytest.mark.live
@pytest.mark.django_db
def test_nginx_with_this_configuration_carries_a_browser_socket_to_the_realtime_process(proxied):
    url = proxied["url"]
    token = mint_development_token(email="proxied@example.com", subject="proxied|socket")

    async def scenario() -> list[dict[str, Any]]:
        async with connect(
            url.replace("http://", "ws://") + WS_PATH,
            # A page served by the same host and port: the origin check passes only if the
            # proxy passed the Host header on with its port.
            origin=url,
            additional_headers={"Authorization": f"Bearer {token}"},
        ) as socket:
            connected = json.loads(await asyncio.wait_for(socket.recv(), 10))
            await socket.send(json.dumps({"type": "ping"}))
            return [connected, json.loads(await asyncio.wait_for(socket.recv(), 10))]

    connected, pong = asyncio.run(scenario())

    assert connected["type"] == "connected"
    assert pong == {"type": "pong"}
