"""Gives each pytest-xdist worker a Redis database of its own, before Django reads its settings.

`make test` loads it with `-p tests.parallel`, so it runs before pytest-django sets Django up.
pytest-django already gives each worker its own test database (`test_<name>_gw<N>`); without this
the cache, the Celery broker and the channel layer would be shared, and one worker's cache flush
or real Celery worker would reach another's tests. Worker N takes the Redis database N below the
one `REDIS_URL` names (modulo 16). Processes that tests start inherit the shifted variables.
"""

from __future__ import annotations

import os
import re

#: Set once the variables are shifted, so that a second load (or a child process) leaves them.
MARKER = "GROUNDWORK_TEST_REDIS_WORKER"


def _shifted(url: str, index: int) -> str:
    match = re.fullmatch(r"(rediss?://[^/?]+)(?:/(\d+))?", url)
    if not match:
        return url
    return f"{match.group(1)}/{(int(match.group(2) or 0) - index) % 16}"


def _shift_for_this_worker() -> None:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    match = re.fullmatch(r"gw(\d+)", worker)
    if not match or os.environ.get(MARKER):
        return
    for name in ("REDIS_URL", "CELERY_BROKER_URL"):
        if os.environ.get(name):
            os.environ[name] = _shifted(os.environ[name], int(match.group(1)))
    os.environ[MARKER] = worker


_shift_for_this_worker()
