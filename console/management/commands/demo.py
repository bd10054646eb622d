"""`manage.py demo`: seed the demo data set and print the staff sign-in (local development only)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from console.demo import demo_seed, demo_staff_file

# The order and words of the summary.
LABELS = (
    ("users", "customers"),
    ("entitlements", "entitlements (Stripe, App Store, Google Play, manual)"),
    ("projects", "projects"),
    ("projects_deleted", "of them soft-deleted"),
    ("files", "files (uploaded, pending, failed)"),
    ("ai_usage", "AI calls over 30 days"),
    ("usage_counters", "daily usage counters"),
    ("webhook_events", "webhook events"),
    ("emails", "emails in the outbox (sent, failed; delivered, bounced...)"),
    ("email_suppressions", "suppressed addresses (hard bounce, spam complaint)"),
    ("flags", "feature flags"),
)


class Command(BaseCommand):
    help = (
        "Seed demo data (a staff sign-in, customers on every plan and source, projects, files, "
        "AI usage, webhook events, emails, flags) for local development. Idempotent; refused "
        "with ENVIRONMENT=staging or production."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--staff-file",
            type=Path,
            default=None,
            help="Where the staff sign-in is kept (default: .demo-staff beside manage.py).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IS_DEPLOYED:
            raise CommandError(
                f"manage.py demo is refused with ENVIRONMENT={settings.ENVIRONMENT}: it writes "
                "made-up customers and a staff account with a printed password, for local "
                "development only."
            )
        staff_file: Path = options["staff_file"] or demo_staff_file()
        started = time.perf_counter()
        # The services log each write (plans granted, files uploaded): not what this prints.
        logging.disable(logging.INFO)
        try:
            result = demo_seed(staff_file=staff_file)
        finally:
            logging.disable(logging.NOTSET)
        seconds = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(f"Demo data ready ({seconds:.1f} s):"))
        for key, label in LABELS:
            self.stdout.write(f"  {result.counts[key]:>5}  {label}")
        staff = result.staff
        kept = "new password" if staff.password_is_new else "password kept from the last run"
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS("Staff sign-in for the admin (/admin/):"))
        self.stdout.write(f"  email     {staff.email}")
        self.stdout.write(f"  password  {staff.password}  ({kept}; in {staff_file.name})")
