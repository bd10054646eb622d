"""`manage.py welcome`: the start-up banner of `make run`, printed before the server starts.

`make run` is `welcome --migrate --serve`: one process checks for pending migrations, prints the
banner and becomes the development server's watcher, rather than a process each for `migrate
--check`, `welcome` and `runserver`: every start of Django costs about 2 s of CPU (bench/README.md,
"Cold start").
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
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


def migrations_pending() -> bool:
    """Whether the default database lacks any migration (what `migrate --check` answers)."""
    connection = connections[DEFAULT_DB_ALIAS]
    try:
        executor = MigrationExecutor(connection)
        return bool(executor.migration_plan(executor.loader.graph.leaf_nodes()))
    finally:
        connection.close()


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
        parser.add_argument(
            "--migrate",
            action="store_true",
            help="First apply the database migrations, when some are pending.",
        )
        parser.add_argument(
            "--serve",
            action="store_true",
            help="Then run the development server (`runserver addr`) in this process.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        addr: str = options["addr"]
        if ":" not in addr:
            raise CommandError(f"Give host:port, e.g. 127.0.0.1:8000 (got {addr!r}).")
        # The autoreloader serves from a child process that runs this command again: the child
        # only serves, the watcher has migrated and printed the banner.
        if not (options["serve"] and os.environ.get("RUN_MAIN") == "true"):
            if options["migrate"] and migrations_pending():
                self.migrate()
            self.stdout.write(self.banner(addr, staff_file=options["staff_file"]))
            self.stdout.flush()
        if options["serve"]:
            call_command("runserver", addr)

    def migrate(self) -> None:
        """Apply the pending migrations in a process of its own: the states of a whole migration
        run (about 240 MiB on a new database) are not kept by the server's watcher."""
        self.stdout.write("Applying database migrations (a new database takes a minute or two)...")
        self.stdout.flush()
        result = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"], cwd=settings.BASE_DIR
        )
        if result.returncode != 0:
            raise CommandError(f"The migrations failed (exit status {result.returncode}).")

    def banner(self, addr: str, *, staff_file: Path | None) -> str:
        """The local URLs, the dev token command and the demo staff sign-in."""
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
        staff = demo_sign_in(path=staff_file or demo_staff_file())
        if staff is not None:
            lines.append(f"  {'Staff sign-in':<16}{staff.email} / {staff.password}  (make demo)")
        else:
            lines.append(
                f"  {'Staff sign-in':<16}none yet: `make demo` seeds demo data and a staff "
                "sign-in (or: manage.py createsuperuser)"
            )
        lines.append("")
        return "\n".join(lines)
