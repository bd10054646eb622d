"""The schema tells the whole truth: schemathesis, every check, against a live server.

An independent fuzzer (the `st` command line, as CI or anyone would run it) reads
/api/v1/openapi.json from gunicorn serving the app on the test database, and sends generated
requests, valid and invalid, to every operation, signed as a real user. The identity providers'
webhooks are configured (so generated deliveries meet their signature checks); Stripe and the app
stores are not, and answer their declared 503 (their intake is fuzzed with real signatures in
tests/contract/test_webhook_fuzz.py). Every check is on: no 500, status codes, content
types, headers and bodies as declared, invalid data refused, valid data accepted, auth enforced.
Streaming AI answers are turned into JSON ones (tests/contract/live_fuzz_hooks.py). Zero failures.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.tokens import mint_development_token
from tests.live import live_server, read_log
from tests.processes import BASE_DIR

ST = Path(sys.executable).with_name("st")
CONFIG = Path(__file__).with_name("schemathesis.toml")
# Examples per operation and phase; with the coverage phase's own cases this keeps the whole run
# around a minute on a small machine.
MAX_EXAMPLES = "5"
SEED = "20261203"
ERASE = "app_users_me_destroy"  # DELETE /users/me
CLERK_SECRET = "whsec_" + base64.b64encode(b"live-fuzz-clerk-signing-key").decode()
SUPABASE_SECRET = "live-fuzz-supabase-webhook-secret"

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True)]


def run_fuzzer(url: str, token: str, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(ST),
        f"--config-file={CONFIG}",
        "run",
        f"{url}/api/v1/openapi.json",
        "--checks=all",
        "--mode=all",
        f"--max-examples={MAX_EXAMPLES}",
        f"--seed={SEED}",
        "--no-shrink",
        # One request at a time: the embedded run's SQLite takes one writer at a time.
        "--workers=1",
        "--request-timeout=20",
        "--header",
        f"Authorization: Bearer {token}",
        *extra,
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(BASE_DIR),
        "SCHEMATHESIS_HOOKS": "tests.contract.live_fuzz_hooks",
        "NO_COLOR": "1",
    }
    return subprocess.run(
        command, cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=240
    )


# The operations by tag, in groups that are separate tests (each with its own server, user and
# fuzzer), so that pytest-xdist runs them side by side; a tag's operations stay together, so that
# the fuzzer can follow a resource from its creation to its deletion. "other" is every operation
# whose tags the groups do not name. Erasing the account would leave every later request a 403:
# it gets its own group, user and server.
GROUPS = {
    "ai": ["--include-tag=ai"],
    "files": ["--include-tag=files", "--include-tag=health"],
    "projects_users": [
        "--include-tag=projects",
        "--include-tag=users",
        f"--exclude-operation-id={ERASE}",
    ],
    "webhooks": ["--include-tag=webhooks"],
    "billing": ["--include-tag=billing"],
    "other": [
        f"--exclude-tag={tag}"
        for tag in ("ai", "files", "health", "projects", "users", "webhooks", "billing")
    ],
    "erase": [f"--include-operation-id={ERASE}"],
}


@pytest.mark.parametrize("group", GROUPS)
def test_every_operation_agrees_with_the_schema(live_database_url, unique_subject, group):
    env = {
        "DATABASE_URL": live_database_url,
        "RATE_LIMIT_DEFAULT": "1000000/minute",
        "RATE_LIMIT_AI": "1000000/minute",
        "RATE_LIMIT_AUTH_FAILURES": "1000000/minute",
        # Every model the schema lists is then one the user's plan allows.
        "BILLING_FREE_AI_MODELS": "*",
        "CLERK_WEBHOOK_SECRET": CLERK_SECRET,
        "SUPABASE_WEBHOOK_SECRET": SUPABASE_SECRET,
    }
    with live_server(env) as url:
        result = run_fuzzer(
            url,
            mint_development_token(email=f"fuzz-{group}@example.com", subject=unique_subject),
            *GROUPS[group],
        )
        log = read_log(url)[-20_000:]

    assert result.returncode == 0, result.stdout + result.stderr + log
