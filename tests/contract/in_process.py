"""The API schema loaded by schemathesis from the WSGI application, in the test's process."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections

from config.wsgi import application


@contextmanager
def wsgi_schema(**options: Any) -> Iterator[schemathesis.BaseSchema]:
    """/api/v1/openapi.json as the application serves it, calls going to the application.

    The WSGI handler closes "old" connections around each request, which would end the test's
    transaction: the test connection is kept for the duration.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application, **options)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
