"""A test OIDC provider served over HTTP for the whole session, and the code flow walked with
Django's test client: the browser's redirects are followed by hand, the provider is called for
real."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.oidc_provider import OIDCProvider

GROUP_MAP = {"support": ["Support"], "billing-ops": ["Billing"], "ops": ["Support", "Operations"]}
SUPERUSER_GROUPS = ["console-admins"]


@pytest.fixture(scope="session")
def oidc_server() -> Iterator[OIDCProvider]:
    with OIDCProvider() as provider:
        yield provider


@pytest.fixture
def provider(oidc_server: OIDCProvider, settings: Any, db: None) -> OIDCProvider:
    """The provider, reset, with the app's SSO settings pointing at it."""
    oidc_server.reset()
    oidc_server.apply_to(
        settings,
        STAFF_SSO_ALLOWED_DOMAINS=["example.com"],
        STAFF_SSO_GROUPS_CLAIM="groups",
        STAFF_SSO_GROUP_MAP=GROUP_MAP,
        STAFF_SSO_SUPERUSER_GROUPS=SUPERUSER_GROUPS,
        STAFF_SSO_PROVIDER_NAME="Okta",
        ADMIN_PASSWORD_LOGIN=True,
    )
    return oidc_server


@dataclass
class Callback:
    """The end of one walk through the code flow."""

    response: Any  # the app's answer to the provider's redirect back
    url: str  # that redirect (path and query), to replay


def sso_sign_in(client: Any, *, next_url: str = "/admin/") -> Callback:
    """Click "Sign in with ..." and follow the browser's redirects to the app's callback."""
    start = client.get("/oidc/authenticate/", {"next": next_url})
    assert start.status_code == 302, start
    at_provider = requests.get(start.url, allow_redirects=False, timeout=5)
    assert at_provider.status_code == 302, at_provider.text
    back = urlsplit(at_provider.headers["Location"])
    assert back.path == "/oidc/callback/"
    url = f"{back.path}?{back.query}"
    return Callback(client.get(url), url)
