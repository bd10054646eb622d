"""Staff sign-in to the admin through the company's OIDC provider (mozilla-django-oidc).

The admin's login page links to `/oidc/authenticate/` (`StaffSSOStartView`), which sends the
browser to the provider with a fresh state and nonce kept in the session; the provider sends it
back to `/oidc/callback/` (`StaffSSOCallbackView`), which uses the state once, and
`StaffSSOBackend` exchanges the code, verifies the id_token (signature, nonce, audience, expiry)
and reads the userinfo claims. Settings: config/settings/staff.py.

Who gets in: a verified email (`email_verified` true) of STAFF_SSO_ALLOWED_DOMAINS. The account is
the staff account made by an earlier SSO sign-in of the same subject (`sso|<sub>`), else the one
staff account with that email (an account made here, e.g. by createsuperuser), else a new staff
account. Users without staff access (API users) are never matched, so never signed in or
promoted. A deactivated account, or one whose staff access was taken away, is refused.

At every sign-in the provider's groups claim decides the account's access: each Django group named
in STAFF_SSO_GROUP_MAP is held exactly when a mapped claim value is present (groups not named there
are left to the admin), and `is_superuser` is true exactly when a claim value is in
STAFF_SSO_SUPERUSER_GROUPS (role superadmin, else admin). Changes are audited
(`user.access_change`, actor type provider), as are sign-ins (`staff.sign_in`) and refusals
(`staff.sign_in_failed` with a reason code); a refusal leaves no one signed in and puts the reason
on the login page.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

import jwt
import requests
from django.conf import settings
from django.contrib import auth, messages
from django.contrib.auth.models import Group
from django.core.exceptions import SuspiciousOperation, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import (
    OIDCAuthenticationCallbackView,
    OIDCAuthenticationRequestView,
)

from accounts.backends import sign_in_audit
from accounts.models import User
from audit.models import AuditEvent
from audit.services import audit_record

logger = logging.getLogger(__name__)

SSO_ID_PREFIX = "sso|"
# User.id's column size.
ID_MAX_LENGTH = 255
# Where the backend leaves the reason for a refusal, for the callback view to show and audit.
REFUSAL_ATTRIBUTE = "staff_sso_refusal"


@dataclass(frozen=True)
class SignInOptions:
    """What the admin's login page offers."""

    sso: bool
    provider_name: str
    password: bool


def sso_enabled() -> bool:
    """Whether staff SSO is configured (the client and every endpoint set)."""
    return bool(settings.STAFF_SSO_ENABLED)


def sign_in_options() -> SignInOptions:
    """The SSO button when SSO is configured; the password form when ADMIN_PASSWORD_LOGIN is
    true or SSO is not configured."""
    enabled = sso_enabled()
    return SignInOptions(
        sso=enabled,
        provider_name=settings.STAFF_SSO_PROVIDER_NAME,
        password=bool(settings.ADMIN_PASSWORD_LOGIN or not enabled),
    )


@dataclass
class SignInRefused(Exception):
    """A sign-in the provider vouched for (or tried to) that is not let in."""

    reason: str
    message: str
    email: str = ""


def _provider() -> str:
    return str(settings.STAFF_SSO_PROVIDER_NAME)


def _try_again() -> str:
    return f"The sign-in with {_provider()} could not be completed. Please try again."


def _refuse(reason: str, message: str, *, email: str = "") -> SignInRefused:
    return SignInRefused(reason=reason, message=message, email=email)


# --- Claims -------------------------------------------------------------------------------------


def _is_true(value: Any) -> bool:
    # Some providers (AWS Cognito) send booleans as strings.
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def sso_allowed_email(claims: Mapping[str, Any]) -> str:
    """The claims' email when it is verified and of an allowed domain, else `SignInRefused`."""
    email = claims.get("email")
    try:
        validate_email(email)
    except ValidationError:
        raise _refuse("email_missing", f"{_provider()} did not give an email address.") from None
    email = User.objects.normalize_email(str(email).strip())
    if not _is_true(claims.get("email_verified")):
        raise _refuse(
            "email_unverified",
            f"Your email address {email} is not verified with {_provider()}.",
            email=email,
        )
    domain = email.rpartition("@")[2].lower()
    if domain not in settings.STAFF_SSO_ALLOWED_DOMAINS:
        raise _refuse(
            "domain_not_allowed",
            f"{email} may not sign in to the staff console: only company addresses can.",
            email=email,
        )
    return email


def sso_claim_groups(claims: Mapping[str, Any]) -> set[str]:
    """The provider's group values (STAFF_SSO_GROUPS_CLAIM: a list, or one string)."""
    raw = claims.get(settings.STAFF_SSO_GROUPS_CLAIM)
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple):
        return set()
    return {str(value) for value in raw if isinstance(value, str | int) and str(value)}


# --- Accounts -----------------------------------------------------------------------------------


def sso_staff_user_find(*, subject: str, email: str) -> User | None:
    """The staff account this subject signs in to, None for a new one, or `SignInRefused`.

    An account made by SSO belongs to its subject: another subject with the same email (an
    address reassigned at the provider) does not get it.
    """
    own = User.objects.filter(pk=f"{SSO_ID_PREFIX}{subject}").first()
    if own is None:
        matches = list(User.objects.filter(email__iexact=email, is_staff=True)[:2])
        if len(matches) > 1:
            raise _refuse(
                "ambiguous_email",
                f"Several staff accounts have the email {email}: ask an administrator.",
                email=email,
            )
        own = matches[0] if matches else None
        if own is not None and own.pk.startswith(SSO_ID_PREFIX):
            raise _refuse(
                "subject_mismatch",
                f"The staff account of {email} belongs to another {_provider()} identity.",
                email=email,
            )
    if own is None:
        return None
    if not own.is_active:
        raise _refuse("deactivated", "Your staff account is deactivated.", email=email)
    if not own.is_staff:
        raise _refuse("not_staff", "Your account has no access to the staff console.", email=email)
    return own


def sso_staff_user_create(*, subject: str, email: str, claims: Mapping[str, Any]) -> User:
    """A new staff account for a provider subject (no password: it signs in through SSO)."""
    name = claims.get("name")
    user = User.objects.create_user(
        email,
        None,
        id=f"{SSO_ID_PREFIX}{subject}",
        is_staff=True,
        role=User.Role.ADMIN,
        full_name=name[:255] if isinstance(name, str) and name.strip() else None,
    )
    audit_record(
        action="user.create",
        actor_type=AuditEvent.ActorType.PROVIDER,
        target_type="user",
        target_id=user.pk,
        changes={"email": (None, email), "is_staff": (None, True)},
    )
    return user


def sso_staff_access_sync(*, user: User, claim_groups: set[str]) -> User:
    """Set the account's mapped groups, superuser status and role from the provider's groups,
    and audit what changed (`user.access_change`, actor type provider)."""
    group_map: Mapping[str, list[str]] = settings.STAFF_SSO_GROUP_MAP
    managed = {name for names in group_map.values() for name in names}
    wanted = {name for value in claim_groups for name in group_map.get(value, ())}
    superuser = bool(claim_groups & set(settings.STAFF_SSO_SUPERUSER_GROUPS))
    role = User.Role.SUPERADMIN if superuser else User.Role.ADMIN

    held = {group.name: group for group in user.groups.all()}
    before_groups = sorted(held)
    to_remove = [group for name, group in held.items() if name in managed and name not in wanted]
    to_add = [
        Group.objects.get_or_create(name=name)[0] for name in sorted(wanted) if name not in held
    ]
    if to_remove:
        user.groups.remove(*to_remove)
    if to_add:
        user.groups.add(*to_add)

    changes: dict[str, tuple[Any, Any]] = {}
    if to_remove or to_add:
        after_groups = sorted(
            {*held, *(group.name for group in to_add)} - {group.name for group in to_remove}
        )
        changes["groups"] = (before_groups, after_groups)
    if user.is_superuser != superuser:
        changes["is_superuser"] = (user.is_superuser, superuser)
    if user.role != role:
        changes["role"] = (user.role, role)
    if "is_superuser" in changes or "role" in changes:
        user.is_superuser, user.role = superuser, role
        user.save(update_fields=["is_superuser", "role", "updated_at"])
    if changes:
        audit_record(
            action="user.access_change",
            actor_type=AuditEvent.ActorType.PROVIDER,
            target_type="user",
            target_id=user.pk,
            changes=changes,
        )
    return user


# --- mozilla-django-oidc ------------------------------------------------------------------------


class StaffSSOBackend(OIDCAuthenticationBackend):
    """The code flow's backend (in AUTHENTICATION_BACKENDS only while SSO is configured).

    It acts only when called by the callback view (with the session's nonce); any refusal is
    left on the request for the view (`REFUSAL_ATTRIBUTE`) and answered with None.
    """

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> User | None:
        if request is None or not kwargs.get("nonce"):
            return None
        try:
            return cast(User | None, super().authenticate(request, **kwargs))
        except SignInRefused as refusal:
            setattr(request, REFUSAL_ATTRIBUTE, refusal)
        except (SuspiciousOperation, jwt.PyJWTError, requests.RequestException, KeyError) as error:
            # A bad signature or nonce, an expired token, an unreachable provider.
            logger.warning("Staff SSO sign-in failed: %s", error)
            setattr(request, REFUSAL_ATTRIBUTE, _refuse("invalid_response", _try_again()))
        return None

    def verify_token(self, token: str, **kwargs: Any) -> dict[str, Any]:
        """The library checks the signature and nonce; the audience and expiry are checked here
        (OIDC Core 3.1.3.7)."""
        payload = cast(dict[str, Any], super().verify_token(token, **kwargs))
        audience = payload.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.OIDC_RP_CLIENT_ID not in audiences:
            raise SuspiciousOperation("The id_token is not for this client.")
        if "exp" not in payload:
            raise SuspiciousOperation("The id_token has no expiry.")
        return payload

    def get_or_create_user(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> User | None:
        user_info = self.get_userinfo(access_token, id_token, payload)
        subject = payload.get("sub")
        if not isinstance(subject, str) or not subject or user_info.get("sub") != subject:
            # OIDC Core 5.3.2: the userinfo must be about the id_token's subject.
            raise _refuse("subject_mismatch", _try_again())
        if len(SSO_ID_PREFIX + subject) > ID_MAX_LENGTH:
            raise _refuse("invalid_subject", _try_again())
        claims = {**payload, **user_info}
        email = sso_allowed_email(claims)
        with transaction.atomic():
            user = sso_staff_user_find(subject=subject, email=email)
            if user is None:
                user = sso_staff_user_create(subject=subject, email=email, claims=claims)
            return sso_staff_access_sync(user=user, claim_groups=sso_claim_groups(claims))

    def get_user(self, user_id: Any) -> User | None:
        # A session ends with the account's staff access or its deactivation.
        user = cast(User | None, super().get_user(user_id))
        return user if user is not None and user.is_active and user.is_staff else None


class StaffSSOStartView(OIDCAuthenticationRequestView):
    """`/oidc/authenticate/`: off (404) while SSO is not configured."""

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404
        return cast(HttpResponse, super().get(request))


class StaffSSOCallbackView(OIDCAuthenticationCallbackView):
    """`/oidc/callback/`: signs the staff member in, or refuses with a message on the login page.

    Every outcome is audited. A state that is not waiting in this browser's session (replayed,
    forged, or from another browser) is refused like any other failure.
    """

    def get(self, request: HttpRequest) -> HttpResponse:
        if not sso_enabled():
            raise Http404
        try:
            return cast(HttpResponse, super().get(request))
        except SuspiciousOperation:
            setattr(request, REFUSAL_ATTRIBUTE, _refuse("state_mismatch", _try_again()))
            return self.login_failure()

    def login_success(self) -> HttpResponse:
        response = cast(HttpResponse, super().login_success())
        user = cast(User, self.user)
        sign_in_audit(request=self.request, username=user.email, user=user, method="sso")
        return response

    def login_failure(self) -> HttpResponse:
        request = self.request
        refusal = getattr(request, REFUSAL_ATTRIBUTE, None)
        if refusal is None:
            # The provider's own refusal (?error=...), or a callback with no sign-in waiting.
            error = request.GET.get("error", "")[:64]
            if error:
                refusal = _refuse(f"provider_error:{error}", f"{_provider()} did not sign you in.")
            else:
                refusal = _refuse("not_completed", _try_again())
        if request.user.is_authenticated:
            auth.logout(request)
        messages.error(request, refusal.message)
        sign_in_audit(
            request=request,
            username=refusal.email,
            user=None,
            method="sso",
            reason=refusal.reason,
        )
        return HttpResponseRedirect(self.failure_url)
