"""A browser page gets a ticket, opens the WebSocket and sees a project renamed in another tab.

The server is `manage.py runserver` (the API and the WebSocket on one port, as `make run`): with
the in-memory layer by default, through Redis when the run has REDIS_URL. The two pages are plain
HTML from a static server of the test's, on another origin, as a single-page app served apart
from the API: the API lets that origin in (CORS_ALLOWED_ORIGINS), for its requests and for the
socket's handshake. (Pages the browser answers itself, through Playwright's routing, would not
do: chromium's local network access checks refuse their sockets to 127.0.0.1.)
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from accounts.tokens import mint_development_token
from tests.browser.conftest import TIMEOUT_MS
from tests.processes import Process, worker_env
from tests.realtime.live_servers import api, runserver

# transaction=True: what the server commits is emptied after the test.
pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.django_db(transaction=True)]

# Gets a ticket with the token, opens the socket with it, subscribes to the project once
# connected, and lists every frame received: its type, event and channel as attributes, and
# for events the project's name as text.
LISTENER = """<!doctype html>
<title>Project feed</title>
<ol id="frames"></ol>
<p id="status">starting</p>
<script>
const params = new URLSearchParams(location.hash.slice(1));
const list = document.getElementById("frames");
const status = document.getElementById("status");

function show(frame) {
  const item = document.createElement("li");
  item.dataset.type = frame.type;
  item.dataset.event = frame.event || "";
  item.dataset.channel = frame.channel || "";
  item.textContent = frame.type === "event" ? frame.data.name : JSON.stringify(frame);
  list.append(item);
}

async function start() {
  const response = await fetch(params.get("api") + "/api/v1/app/ws/ticket", {
    method: "POST",
    headers: {Authorization: "Bearer " + params.get("token")},
  });
  const {ticket} = await response.json();
  const socket = new WebSocket(
    params.get("api").replace(/^http/, "ws") + "/api/v1/app/ws?ticket=" + encodeURIComponent(ticket)
  );
  socket.onmessage = (message) => {
    const frame = JSON.parse(message.data);
    show(frame);
    if (frame.type === "connected") {
      socket.send(JSON.stringify({type: "subscribe", channel: params.get("channel")}));
    } else if (frame.type === "subscribed") {
      status.textContent = "listening";
    }
  };
  socket.onclose = (event) => { status.textContent = "closed " + event.code; };
}
start().catch((error) => { status.textContent = "failed " + error; });
</script>
"""

# Renames the project through the API.
EDITOR = """<!doctype html>
<title>Edit project</title>
<form id="rename">
  <label>Name <input name="name"></label>
  <button>Save</button>
</form>
<p id="result"></p>
<script>
const params = new URLSearchParams(location.hash.slice(1));
document.getElementById("rename").addEventListener("submit", async (event) => {
  event.preventDefault();
  const url = params.get("api") + "/api/v1/app/projects/" + params.get("project");
  const response = await fetch(url, {
    method: "PATCH",
    headers: {
      Authorization: "Bearer " + params.get("token"),
      "Content-Type": "application/json",
    },
    body: JSON.stringify({name: new FormData(event.target).get("name")}),
  });
  document.getElementById("result").textContent = "saved " + response.status;
});
</script>
"""

PAGES = {"/feed": LISTENER, "/edit": EDITOR}


class PageHandler(BaseHTTPRequestHandler):
    """Serves PAGES, nothing else."""

    def do_GET(self) -> None:
        body = PAGES.get(self.path.split("?")[0], "").encode()
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def pages() -> Iterator[str]:
    """The origin serving the pages (a static server in a thread)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def server(pages: str, live_database_url: str) -> Iterator[Process]:
    """runserver on the test's database (a file copy of it on SQLite), and Redis if there is
    one; the pages' origin is allowed."""
    env = worker_env(live_database_url) if os.environ.get("REDIS_URL") else {}
    env |= {"DATABASE_URL": live_database_url, "CORS_ALLOWED_ORIGINS": pages}
    with runserver(env) as process:
        yield process


@pytest.fixture
def context(browser: Browser, pages: str) -> Iterator[BrowserContext]:
    """A fresh profile whose relative URLs go to the pages."""
    context = browser.new_context(base_url=pages)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    yield context
    context.close()


def test_a_page_sees_the_project_renamed_in_another_tab(
    server: Process, context: BrowserContext, page: Page
) -> None:
    key = uuid.uuid4().hex
    token = mint_development_token(email=f"{key}@example.com", subject=f"browser|{key}")
    status, project = api("POST", server, "projects", token=token, body={"name": "Draft"})
    assert status == 201, project
    channel = f"project:{project['id']}"

    page.goto("/feed#" + urlencode({"api": server.url, "token": token, "channel": channel}))
    expect(page.locator("#status")).to_have_text("listening")
    expect(page.locator("#frames li").first).to_have_attribute("data-type", "connected")

    editor = context.new_page()
    editor.goto("/edit#" + urlencode({"api": server.url, "token": token, "project": project["id"]}))
    editor.get_by_label("Name").fill("Launch plan")
    editor.get_by_role("button", name="Save").click()
    expect(editor.locator("#result")).to_have_text("saved 200")

    updated = page.locator(f'#frames li[data-event="project.updated"][data-channel="{channel}"]')
    expect(updated).to_have_text("Launch plan")
    expect(page.locator("#status")).to_have_text("listening")  # the socket stayed open
