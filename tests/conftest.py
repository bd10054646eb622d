"""Shared fixtures: an API client that acts as a user by minting real tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any, cast

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tokens import mint_development_token
from config.celery import app as celery_app
from config.outages import OutageLog
from flags.selectors import flags_memo_clear
from tests.factories import UserFactory


class ApiClient(APIClient):
    """DRF's test client, JSON by default, that can sign requests as a user."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.default_format = "json"

    def as_user(self, user: User) -> ApiClient:
        """Send a real HS256 token for `user` (verified like any provider's token)."""
        return self.with_token(mint_development_token(email=user.email, subject=user.pk))

    def with_token(self, token: str) -> ApiClient:
        self.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return self


@pytest.fixture
def api() -> ApiClient:
    return ApiClient()


@pytest.fixture
def user(db: None) -> User:
    return cast(User, UserFactory())


@pytest.fixture
def other_user(db: None) -> User:
    return cast(User, UserFactory())


@pytest.fixture
def staff(db: None, client: Any) -> User:
    """A superuser, signed in to the Django test `client` (the admin)."""
    admin = User.objects.create_superuser("staff@example.com", "a-long-staff-password-1")
    client.force_login(admin)
    return admin


@pytest.fixture
def unique_subject() -> str:
    return f"test|{uuid.uuid4()}"


@pytest.fixture(autouse=True)
def _clean_cache() -> Iterator[None]:
    """Each test starts with an empty cache (throttle windows, JWKS state, the flags snapshot
    and this process's copy of it) and no outage."""
    _clear_cache()
    flags_memo_clear()
    OutageLog.reset_all()
    yield
    _clear_cache()
    flags_memo_clear()


def _clear_cache() -> None:
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")  # only this project's prefix, never the whole Redis database
    else:
        cache.clear()


@pytest.fixture(autouse=True, scope="session")
def _celery_eager() -> None:
    """Tasks run in-process unless a test starts a real worker."""
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True


@pytest.fixture(scope="session")
def live_database_url(django_db_setup, django_db_blocker, tmp_path_factory) -> str:
    """A database that server processes started by a test can share with it.

    PostgreSQL: the test database itself (use `transactional_db` so their rows are cleaned).
    SQLite: the test database lives in memory, so its empty schema is copied to a file for them.
    """
    from django.db import connection

    from tests.live import test_database_url

    if connection.vendor == "postgresql":
        return test_database_url()
    path = tmp_path_factory.mktemp("live") / "db.sqlite3"
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("VACUUM INTO %s", [str(path)])
    return f"sqlite:///{path}"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    """Staff passwords in tests need no brute-force resistance; hashing them fast saves seconds."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
