"""DRF authentication with the identity provider's Bearer tokens, verified locally."""

from __future__ import annotations

import logging
from typing import Any

from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from accounts.models import User
from accounts.services import user_get_or_create_from_claims, user_record_login
from accounts.tokens import InvalidToken, verify_token
from config.errors import AuthenticationError, AuthorizationError
from config.metrics import record_auth_failure
from config.observability import user_id_var

logger = logging.getLogger(__name__)


class JWTAuthentication(BaseAuthentication):
    """`Authorization: Bearer <JWT>` → the user named by its `sub`, created on first sight.

    No header means anonymous (the permission then answers 401); a header that is not a valid
    Bearer token is a 401; a deactivated user is a 403.
    """

    def authenticate(self, request: Request) -> tuple[User, dict[str, Any]] | None:
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        token = token.strip()
        try:
            if scheme.lower() != "bearer" or not token or " " in token:
                raise InvalidToken(
                    "Authorization header must be 'Bearer <token>'", reason="malformed"
                )
            claims = verify_token(token)
        except InvalidToken as exc:
            logger.info("token rejected: %s", exc.reason)
            record_auth_failure(reason=exc.reason)
            raise
        user = user_get_or_create_from_claims(claims=claims)
        user_id_var.set(user.pk)
        if not user.is_active:
            raise AuthorizationError("This account is deactivated")
        user_record_login(user=user)
        return user, claims

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


def authenticated_user(request: Request) -> User:
    """The request's user, typed; views behind IsAuthenticated always have one."""
    user = request.user
    if not isinstance(user, User):
        raise AuthenticationError()
    return user
