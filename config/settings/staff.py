"""Staff sign-in settings: the lockout of the admin's password form after repeated failures
(django-axes; its hooks are in accounts/backends.py).

Failures are counted per account and per client address, each on its own: after
STAFF_LOGIN_FAILURE_LIMIT failures within STAFF_LOGIN_COOLOFF_MINUTES, that account (from any
address) and that address (for any account) are refused without checking the password until the
cool-off has passed. Attempts are kept in the database (axes' AccessAttempt, shown in the admin,
where staff can delete them to unlock early), so every process sees the same counts with or
without Redis, and a Redis outage does not open or close the door.
"""

from __future__ import annotations

from datetime import timedelta

from config.settings.auth import AUTHENTICATION_BACKENDS as _BACKENDS
from config.settings.core import env

# Axes' backend goes first: it refuses a locked-out client before any password is checked.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", *_BACKENDS]

AXES_ENABLED = True
# No start-up banner in every process's log.
AXES_VERBOSE = False
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = env.int("STAFF_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("STAFF_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = "accounts.backends.lockout_parameters"
# Attempts refused during a lockout are not counted again: the lockout ends one cool-off after
# it started, so an attacker who keeps knocking cannot keep a staff member out for ever.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A success does not wipe the failures: it would clear the address's count too, letting anyone
# with one staff account reset it between guesses at another.
AXES_RESET_ON_SUCCESS = False
# The admin's login form posts `username` (an email, matched case-insensitively).
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.backends.sign_in_username"
# The same client address as the per-IP rate limits (NUM_PROXIES, settings/api.py).
AXES_CLIENT_IP_CALLABLE = "accounts.backends.client_ip_address"
AXES_LOCKOUT_CALLABLE = "accounts.backends.lockout_response"
# Sign-ins (successful, failed, locked out) are in the audit log (audit.AuditEvent).
AXES_DISABLE_ACCESS_LOG = True
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "csrfmiddlewaretoken"]
