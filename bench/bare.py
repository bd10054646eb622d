"""The bare Django ceilings of `make bench`: a separate minimal WSGI application.

No project code, no installed apps, no middleware, one persistent database connection per
thread (`CONN_MAX_AGE=None`, Django's own PostgreSQL backend, no pool): what Django itself costs
under the same server. `make bench` serves it with gunicorn, the same workers and threads as the
project, beside the project's server, and interleaves it in the same rounds.

- `/constant`: a fixed JSON body;
- `/query?owner=<id>`: the project list's SELECT of one page (its columns, its filter on the
  owner's live projects, its order, 20 rows; no count), rows rendered as JSON.

`BARE_DATABASE_URL` names the database (the bench's).
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import django
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.urls import path

# The project list's statement without its count window (projects.selectors.project_list and
# config.pagination, as `make bench` prints them for one steady-state request).
LIST_SQL = (
    "SELECT id, name, description, owner_id, created_at, updated_at FROM projects "
    "WHERE owner_id = %s AND deleted_at IS NULL ORDER BY created_at DESC, id DESC LIMIT 20"
)
COLUMNS = ("id", "name", "description", "owner_id", "created_at", "updated_at")
CONSTANT = {"status": "ok", "items": [], "total": 0}


def constant(request: HttpRequest) -> JsonResponse:
    return JsonResponse(CONSTANT)


def query(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute(LIST_SQL, [request.GET.get("owner", "")])
        rows = [dict(zip(COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    return JsonResponse({"items": rows})


urlpatterns = [path("constant", constant), path("query", query)]


def _database(url: str) -> dict[str, object]:
    parts = urlsplit(url)
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": parts.path.lstrip("/"),
        "USER": parts.username or "",
        "PASSWORD": parts.password or "",
        "HOST": parts.hostname or "",
        "PORT": parts.port or "",
        "CONN_MAX_AGE": None,
    }


settings.configure(
    DEBUG=False,
    SECRET_KEY="bare-django-ceiling-not-a-secret",  # noqa: S106 - signs nothing
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[],
    INSTALLED_APPS=[],
    DATABASES={"default": _database(os.environ["BARE_DATABASE_URL"])},
    USE_TZ=True,
    LOGGING_CONFIG=None,
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402 - after settings.configure

application = get_wsgi_application()
