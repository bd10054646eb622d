"""A real browser (Debian's chromium driven by Playwright) against the project served by
pytest-django's `live_server`.

Playwright's sync API keeps an asyncio loop marked as running in this thread while it is alive, so
Django would refuse ORM calls from the test (SynchronousOnlyOperation). The browser lives for this
package only, and DJANGO_ALLOW_ASYNC_UNSAFE is set exactly as long as it does: tests elsewhere keep
Django's check. When a test fails, every page it had open is saved as a full-page screenshot under
the test's `tmp_path`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.oidc_provider import OIDCProvider

BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
# Every wait (navigation, locator, expect) gives up after this, so a broken page fails fast.
TIMEOUT_MS = 10_000


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep each phase's report on the test item, so fixtures can tell whether the test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """Headless chromium from the system (never a downloaded browser), for this package's tests."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.fail(
            "The browser tests need Debian's chromium: apt-get install chromium", pytrace=False
        )
    expect.set_options(timeout=TIMEOUT_MS)
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=executable, args=BROWSER_ARGS, headless=True
        )
        yield browser
        browser.close()


@pytest.fixture
def context(browser: Browser, live_server: Any) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) whose relative URLs go to the live server."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    yield context
    context.close()


@pytest.fixture
def page(context: BrowserContext, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """A page of the test's own browser profile; screenshots of every open page on failure."""
    page = context.new_page()
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        for number, open_page in enumerate(context.pages):
            path = tmp_path / f"page-{number}.png"
            try:
                open_page.screenshot(path=str(path), full_page=True, timeout=TIMEOUT_MS)
            except Exception as error:  # noqa: BLE001 - a failed screenshot must not hide the failure
                print(f"No screenshot of {open_page.url}: {error}")
            else:
                print(f"Screenshot of {open_page.url}: {path}")


@pytest.fixture
def superuser(db: None) -> Any:
    """A staff superuser with a password (the password form and SSO both may sign them in)."""
    from accounts.models import User

    return User.objects.create_superuser("root@example.com", "a-long-staff-password-1")


@pytest.fixture
def staff_page(page: Page, context: BrowserContext, superuser: Any, live_server: Any) -> Page:
    """`page`, already signed in to the admin as `superuser` (a session made server side)."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(superuser)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    return page


@pytest.fixture(scope="package")
def oidc_server() -> Iterator[OIDCProvider]:
    """The test OIDC provider, over real HTTP in a thread: the browser follows its redirects."""
    with OIDCProvider() as provider:
        yield provider


@pytest.fixture
def sso(oidc_server: OIDCProvider, settings: Any) -> OIDCProvider:
    """Staff SSO pointed at the provider, password sign-in off (as in production); the person
    who signs in at the provider is a superuser of the company domain until a test says else."""
    oidc_server.reset()
    oidc_server.apply_to(
        settings,
        STAFF_SSO_ALLOWED_DOMAINS=["example.com"],
        STAFF_SSO_GROUPS_CLAIM="groups",
        STAFF_SSO_GROUP_MAP={"support": ["Support"]},
        STAFF_SSO_SUPERUSER_GROUPS=["console-admins"],
        STAFF_SSO_PROVIDER_NAME="Okta",
        ADMIN_PASSWORD_LOGIN=False,
    )
    oidc_server.sign_in_as(
        sub="okta|ada", email="ada@example.com", groups=["console-admins"], name="Ada Lovelace"
    )
    return oidc_server
