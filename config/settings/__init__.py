"""The settings package (DJANGO_SETTINGS_MODULE=config.settings): one module per concern.

Everything is read from the environment (and a `.env` file beside `manage.py`, when present) once,
through the one reader `env` of settings/core.py. In `local` and `test` the embedded defaults run
the whole project in one process with no services; in `staging` and `production`, bad
configuration stops start-up with one message listing every problem. See `.env.example` for every
variable.

The modules are imported in this order (a later one may use an earlier one's settings), and each
only adds its problems to `env.problems`; they are reported together at the end.
"""

from __future__ import annotations

# The order is the order of evaluation: keep it (isort would sort it alphabetically).
# isort: off
from config.settings.core import *  # noqa: F403
from config.settings.database import *  # noqa: F403
from config.settings.cache import *  # noqa: F403
from config.settings.jobs import *  # noqa: F403
from config.settings.realtime import *  # noqa: F403
from config.settings.auth import *  # noqa: F403
from config.settings.api import *  # noqa: F403
from config.settings.storage import *  # noqa: F403
from config.settings.webhooks import *  # noqa: F403
from config.settings.billing import *  # noqa: F403
from config.settings.ai import *  # noqa: F403
from config.settings.email import *  # noqa: F403
from config.settings.staff import *  # noqa: F403
from config.settings.observability import *  # noqa: F403

# isort: on
from config.settings.core import ENVIRONMENT, env

env.raise_if_invalid(environment=ENVIRONMENT)
