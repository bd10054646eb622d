"""`manage.py devtoken EMAIL`: print a valid API token for local development."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.tokens import mint_development_token


class Command(BaseCommand):
    help = "Print an HS256 token for AUTH_JWT_SECRET (refused in production)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email", help="Email claim; the same email gives the same user.")
        parser.add_argument("--sub", help="Subject (user id); derived from the email if omitted.")
        parser.add_argument("--name", help="Full name claim.")
        parser.add_argument("--ttl", type=int, default=3600, help="Lifetime in seconds.")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.IS_PRODUCTION:
            raise CommandError("devtoken is disabled in production.")
        if not settings.AUTH_JWT_SECRET:
            raise CommandError("AUTH_JWT_SECRET is not set: there is no secret to sign with.")
        if options["ttl"] < 1:
            raise CommandError("--ttl must be positive.")
        token = mint_development_token(
            email=options["email"],
            subject=options["sub"],
            full_name=options["name"],
            ttl=options["ttl"],
        )
        self.stdout.write(token)
