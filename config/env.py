"""Reading configuration from the environment.

`EnvReader` wraps django-environ so that every malformed value is collected instead of raising on
the first one: settings read everything, add their own cross-checks, then call `raise_if_invalid()`
once, and start-up fails with a single message that lists every problem.
"""

from __future__ import annotations

import base64
import builtins
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import environ
from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

RATE_PATTERN = re.compile(r"^\d+/(s|sec|second|m|min|minute|h|hour|d|day)$")


class EnvReader:
    """Typed access to environment variables that records problems rather than raising."""

    def __init__(self, *, env_file: Path | None = None) -> None:
        self._env = environ.Env()
        if env_file is not None:
            # A missing file is skipped by django-environ itself.
            environ.Env.read_env(env_file, overwrite=False)
        self.problems: list[str] = []

    def is_set(self, name: builtins.str) -> builtins.bool:
        """True when the variable is present and not empty."""
        return bool(self._env.str(name, default="").strip())

    def _read(
        self, name: builtins.str, default: T, cast: Callable[..., T], expected: builtins.str
    ) -> T:
        if not self.is_set(name):
            return default
        try:
            return cast(name)
        except (ValueError, TypeError, ImproperlyConfigured):
            self.problems.append(f"{name} must be {expected} (got {self._env.str(name)!r}).")
            return default

    def str(self, name: builtins.str, default: builtins.str = "") -> builtins.str:
        """A string; surrounding whitespace is removed."""
        return self._read(name, default, lambda n: self._env.str(n).strip(), "a string")

    def bool(self, name: builtins.str, default: builtins.bool = False) -> builtins.bool:
        """A boolean: true/false, yes/no, on/off or 1/0.

        Parsed here: django-environ's `bool` reads anything it does not know as false.
        """

        def cast(n: builtins.str) -> builtins.bool:
            raw = self._env.str(n).strip().lower()
            if raw in {"1", "true", "yes", "on", "y", "t"}:
                return True
            if raw in {"0", "false", "no", "off", "n", "f"}:
                return False
            raise ValueError(raw)

        return self._read(name, default, cast, "true or false")

    def int(
        self, name: builtins.str, default: builtins.int, *, minimum: builtins.int | None = None
    ) -> builtins.int:
        """An integer, optionally with a lower bound."""
        value = self._read(name, default, self._env.int, "an integer")
        if minimum is not None and value < minimum:
            self.problems.append(f"{name} must be at least {minimum} (got {value}).")
            return default
        return value

    def list(
        self, name: builtins.str, default: Sequence[builtins.str] = ()
    ) -> builtins.list[builtins.str]:
        """A comma-separated list; blank items are dropped."""
        if not self.is_set(name):
            return list(default)
        return [item for item in self._env.list(name, cast=builtins.str.strip) if item]

    def choice(
        self, name: builtins.str, choices: Sequence[builtins.str], default: builtins.str
    ) -> builtins.str:
        """One of a fixed set of lowercase values."""
        value = self.str(name, default).lower()
        if value not in choices:
            self.problems.append(f"{name} must be one of {', '.join(choices)} (got {value!r}).")
            return default
        return value

    def rate(self, name: builtins.str, default: builtins.str) -> builtins.str:
        """A throttle rate such as `60/minute`."""
        value = self.str(name, default).replace(" ", "")
        if not RATE_PATTERN.match(value):
            self.problems.append(f"{name} must look like 60/minute (got {value!r}).")
            return default
        return value

    def db(self, name: builtins.str, default: builtins.str) -> dict[builtins.str, Any]:
        """A database URL parsed into Django's DATABASES entry."""
        url = self.str(name, default)
        try:
            return dict(self._env.db_url_config(url))
        except (ValueError, KeyError, ImproperlyConfigured):
            self.problems.append(f"{name} is not a database URL django-environ understands.")
            return dict(self._env.db_url_config(default))

    def raise_if_invalid(self, *, environment: builtins.str) -> None:
        """Stop start-up with one message listing every problem found so far."""
        if self.problems:
            listed = "\n".join(f"  - {problem}" for problem in self.problems)
            raise ImproperlyConfigured(
                f"Invalid configuration for ENVIRONMENT={environment} "
                f"({len(self.problems)} problem(s)):\n{listed}"
            )


def is_base64(text: str) -> bool:
    """True when `text` is non-empty, strictly valid base64."""
    try:
        return bool(base64.b64decode(text, validate=True))
    except ValueError:  # binascii.Error, or characters outside ASCII
        return False
