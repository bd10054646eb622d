"""`manage.py welcome`: the start-up banner of `make run`, printed before the server starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import NoReverseMatch, reverse

from console.demo import demo_sign_in, demo_staff_file

# realtime.asgi.WEBSOCKET_PATH (importing that module would build the ASGI application).
WEBSOCKET_PATH = "/api/v1/app/ws"
MINT_COMMAND = ".venv/bin/python manage.py devtoken you@example.com"


def _path(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:  # the API docs are off (API_DOCS_ENABLED=false)
        return None


class Command(BaseCommand):
    help = "Print the local URLs, the dev token command and the demo staff sign-in."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "addr", nargs="?", default="127.0.0.1:8000", help="host:port the server listens on."
        )
        parser.add_argument(
            "--staff-file",
            type=Path,
            default=None,
            help="Where `manage.py demo` kept the staff sign-in (default: .demo-staff).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        addr: str = options["addr"]
        if ":" not in addr:
            raise CommandError(f"Give host:port, e.g. 127.0.0.1:8000 (got {addr!r}).")
        http, ws = f"http://{addr}", f"ws://{addr}"
        links = [
            ("API", f"{http}/api/v1/"),
            ("Swagger UI", _path("docs")),
            ("ReDoc", _path("redoc")),
            ("OpenAPI schema", _path("schema")),
            ("Admin", reverse("admin:index")),
            ("Health", reverse("health")),
        ]
        lines = ["", self.style.SUCCESS(f"Groundwork ({settings.ENVIRONMENT}) on {http}"), ""]
        for label, where in links:
            if where is not None:
                url = where if where.startswith("http") else f"{http}{where}"
                lines.append(f"  {label:<16}{url}")
        lines.append(f"  {'WebSocket':<16}{ws}{WEBSOCKET_PATH}")
        lines += ["", f"  {'Dev API token':<16}{MINT_COMMAND}"]
        staff = demo_sign_in(path=options["staff_file"] or demo_staff_file())
        if staff is not None:
            lines.append(f"  {'Staff sign-in':<16}{staff.email} / {staff.password}  (make demo)")
        else:
            lines.append(
                f"  {'Staff sign-in':<16}none yet: `make demo` seeds demo data and a staff "
                "sign-in (or: manage.py createsuperuser)"
            )
        lines.append("")
        self.stdout.write("\n".join(lines))
