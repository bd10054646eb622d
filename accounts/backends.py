"""Password sign-in to the admin."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest

from accounts.models import User


class StaffEmailBackend(ModelBackend):
    """Email and password sign-in, for staff only.

    API users authenticate with the identity provider's tokens and have no usable password;
    this backend never lets a non-staff account in, whatever its password.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if isinstance(user, User) and user.is_staff:
            return user
        return None
