"""Password sign-in to the admin, and how django-axes counts its failures (settings/staff.py).

django-axes' backend runs before `StaffEmailBackend` and refuses a client locked out after
repeated failures. The functions below are its hooks (named in the AXES_* settings): which
account and which client address a sign-in attempt counts against, and the page a locked-out
client gets. `sign_in_audit` records every attempt (the admin's login form and the SSO
callback call it). With staff SSO on and ADMIN_PASSWORD_LOGIN false, passwords are refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.backends import ModelBackend
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from rest_framework.settings import api_settings

from accounts.models import User
from audit.models import AuditEvent
from audit.services import audit_record
from config.metrics import record_auth_failure

SIGN_IN = "staff.sign_in"
SIGN_IN_FAILED = "staff.sign_in_failed"
SIGN_IN_LOCKED_OUT = "staff.sign_in_locked_out"
LOCKOUT_TEMPLATE = "admin/lockout.html"
# Axes stores the attempted username in a column of this size.
USERNAME_MAX_LENGTH = 255


def password_sign_in_enabled() -> bool:
    """Whether staff may sign in with a password: always without SSO, else ADMIN_PASSWORD_LOGIN."""
    return bool(settings.ADMIN_PASSWORD_LOGIN or not settings.STAFF_SSO_ENABLED)


def is_sso_callback(request: HttpRequest, credentials: Mapping[str, Any] | None) -> bool:
    """Whether a sign-in attempt is the OIDC provider's callback (AXES_WHITELIST_CALLABLE): the
    password lockout neither refuses nor counts those."""
    return getattr(request, "path", None) == reverse("oidc_authentication_callback")


class StaffEmailBackend(ModelBackend):
    """Email and password sign-in, for staff only, while password sign-in is enabled.

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
        if not password_sign_in_enabled():
            return None
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if isinstance(user, User) and user.is_staff:
            return user
        return None


def sign_in_username(request: HttpRequest, credentials: Mapping[str, Any] | None) -> str | None:
    """The account a sign-in attempt counts against (AXES_USERNAME_CALLABLE).

    Emails match case-insensitively (`UserManager.get_by_natural_key`), so `Admin@x.com` and
    `admin@x.com` are one account: without this, changing the case would restart the count.
    """
    raw = credentials.get("username") if credentials is not None else None
    if raw is None:
        raw = request.POST.get("username")
    if not isinstance(raw, str) or not raw.strip():
        return None
    return raw.strip().lower()[:USERNAME_MAX_LENGTH]


def lockout_parameters(
    request: HttpRequest | Any, credentials: Mapping[str, Any] | None
) -> list[str]:
    """What failures are counted by (AXES_LOCKOUT_PARAMETERS): each account and each client
    address separately, so a locked account stays locked from any address and a locked address
    is refused for any account.

    An attempt without a username (a sign-in that is not the password form) counts by address
    only: all of them would otherwise share one "no username" account and lock each other out.
    """
    if isinstance(request, HttpRequest) and sign_in_username(request, credentials) is None:
        return ["ip_address"]
    return ["username", "ip_address"]


def client_ip_address(request: HttpRequest) -> str | None:
    """The client's address as the API's per-IP rate limits read it (AXES_CLIENT_IP_CALLABLE).

    With NUM_PROXIES trusted proxies in front, it is the address the outermost of them appended
    to X-Forwarded-For (DRF's rule); with none, the socket's peer. A value that is not an IP
    address (a misconfigured proxy) falls back to the peer.
    """
    remote_addr = request.META.get("REMOTE_ADDR") or None
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    num_proxies = api_settings.NUM_PROXIES or 0
    if num_proxies and forwarded:
        addresses = [part.strip() for part in forwarded.split(",")]
        candidate = addresses[-min(num_proxies, len(addresses))]
        if _is_ip_address(candidate):
            return candidate
    return remote_addr if remote_addr and _is_ip_address(remote_addr) else None


def _is_ip_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: Mapping[str, Any] | None = None,
) -> HttpResponse:
    """The admin page a locked-out client gets (AXES_LOCKOUT_CALLABLE): 429, with Retry-After.

    The password was not checked; the page names neither the account nor the reason further.
    """
    cool_off = get_cool_off(request) or timedelta(0)
    minutes = max(1, round(cool_off.total_seconds() / 60))
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed sign-in attempts",
        "cool_off_minutes": minutes,
    }
    response = TemplateResponse(request, LOCKOUT_TEMPLATE, context, status=429)
    response["Retry-After"] = str(int(cool_off.total_seconds()))
    return response.render()


def sign_in_audit(
    *,
    request: HttpRequest,
    username: str,
    user: User | None,
    method: str = "password",
    reason: str = "",
) -> AuditEvent:
    """Record one attempt to sign in to the admin in the audit log.

    `user` is the staff member signed in, or None for a refusal: `staff.sign_in_locked_out` when
    the attempt was refused by (or started) a lockout, else `staff.sign_in_failed`. A refusal
    names the staff account tried when there is one, else the email typed (or given by the
    provider); its actor is unknown. `method` (`password` or `sso`) and the refusal's `reason`
    (a short code) are kept in the event's changes.
    """
    details = {"method": (None, method), **({"reason": (None, reason)} if reason else {})}
    if user is not None:
        return audit_record(
            action=SIGN_IN,
            actor=user,
            actor_type=AuditEvent.ActorType.STAFF,
            target_type="user",
            target_id=user.pk,
            changes=details,
            request=request,
        )
    action = SIGN_IN_LOCKED_OUT if getattr(request, "axes_locked_out", False) else SIGN_IN_FAILED
    # Beside the API's refused tokens: staff_password, staff_sso or staff_locked_out.
    record_auth_failure(
        reason="staff_locked_out" if action == SIGN_IN_LOCKED_OUT else f"staff_{method}"
    )
    email = sign_in_username(request, {"username": username}) or ""
    account = (
        User.objects.filter(email__iexact=email, is_staff=True).order_by("created_at").first()
        if email
        else None
    )
    return audit_record(
        action=action,
        target_type="user" if account is not None else "email",
        target_id=account.pk if account is not None else email,
        changes=details,
        request=request,
    )
