"""Shared fixtures: an API client that acts as a user by minting real tokens."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import freezegun
import pytest
from celery.result import allow_join_result
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import connections, transaction
from django.db.models import Model
from django.test import TransactionTestCase
from redis.connection import AbstractConnection
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tokens import mint_development_token
from config.celery import app as celery_app
from config.outages import OutageLog
from flags.selectors import flags_memo_clear
from tests.factories import UserFactory

# pytest's own clock (the --durations report) keeps the real time while a test freezes it.
freezegun.configure(extend_ignore_list=["_pytest.timing"])


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


@pytest.fixture(autouse=True)
def _result_join_allowed() -> Iterator[None]:
    """Each test starts with `result.get()` allowed. An eager task marks the whole process as
    inside a task while it runs (`denied_join_result`, a process-wide flag) and restores what it
    found after: two run at once on two threads (a live server's, the test's) can leave the
    flag set, and every later `.get()` in the process would fail."""
    with allow_join_result():
        yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """The test databases, and a faster way back to their first state after each transactional
    test (see `_restore_instead_of_post_migrate`)."""
    with django_db_blocker.unblock():
        rows = {alias: _rows_of(alias) for alias in connections}
    cast(Any, TransactionTestCase)._fixture_teardown = _restore_instead_of_post_migrate(rows)


def _rows_of(alias: str) -> list[tuple[type[Model], list[Model]]]:
    """Every row of a database, by model: right after set-up, those post_migrate wrote."""
    rows = []
    for model in apps.get_models(include_auto_created=True):
        if model._meta.managed and not model._meta.proxy:
            objects = list(model._base_manager.using(alias).order_by())
            if objects:
                rows.append((model, objects))
    return rows


def _restore_instead_of_post_migrate(
    rows: dict[str, list[tuple[type[Model], list[Model]]]],
) -> Callable[[Any], None]:
    """A transactional test's teardown that empties every table, as Django's `flush` does, and
    writes back the rows the database had after set-up, where Django's sends post_migrate to write
    them again: the content types, the permissions and the periodic tasks (config.beat) that every
    later test sees are the same, at a fraction of the cost (rebuilding them was most of every
    teardown)."""
    original = cast(Any, TransactionTestCase)._fixture_teardown

    def teardown(self: Any) -> None:
        if self.available_apps is not None or self.serialized_rollback:
            original(self)
            return
        for alias in self._databases_names(include_mirrors=False):
            connection = connections[alias]
            tables = connection.introspection.django_table_names(
                only_existing=True, include_views=False
            )
            # One transaction, and DELETE rather than PostgreSQL's TRUNCATE (which replaces the
            # files of every table and index: seconds for a hundred nearly empty tables). Foreign
            # keys are checked at commit (Django creates them deferred), so the order of the
            # tables and models does not matter.
            with transaction.atomic(using=alias), connection.cursor() as cursor:
                for table in tables:
                    cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")  # noqa: S608
                for model, objects in rows[alias]:
                    model._base_manager.using(alias).bulk_create(objects)
        ContentType.objects.clear_cache()

    return teardown


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


@pytest.fixture
def redis_sends(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every command batch sent to Redis from now on: one per round trip."""
    sent: list[Any] = []
    original = AbstractConnection.send_packed_command

    def send(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        sent.append(command)
        original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", send)
    return sent
