"""The TypeScript client (clients/typescript): its typed example compiles under `tsc --noEmit`,
its types are what openapi-typescript makes of the committed openapi.json, and its live example,
run with Node against the real server, lists, creates and reads back a project and reads the
error envelope of an invalid one.

Needs Node.js and npm; `npm ci` installs the pinned packages when node_modules is missing or
older than package-lock.json.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from accounts.tokens import mint_development_token
from tests.live import live_server, read_log, request
from tests.processes import BASE_DIR

CLIENT = BASE_DIR / "clients" / "typescript"
NODE = shutil.which("node")
NPM = shutil.which("npm")
TSC = CLIENT / "node_modules" / "typescript" / "bin" / "tsc"
OPENAPI_TYPESCRIPT = CLIENT / "node_modules" / "openapi-typescript" / "bin" / "cli.js"
# npm ci leaves this file behind; it is older than package-lock.json when the lock changed since.
INSTALLED = CLIENT / "node_modules" / ".package-lock.json"
# Two test runs side by side (CI's embedded and PostgreSQL runs) must not install at once.
INSTALL_LOCK = Path(tempfile.gettempdir()) / "groundwork-clients-typescript-npm.lock"

pytestmark = pytest.mark.skipif(
    NODE is None or NPM is None, reason="needs Node.js and npm (the TypeScript client)"
)


def run(command: list[str], *, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=CLIENT, capture_output=True, text=True, timeout=timeout, **kwargs
    )


def node(script: Path, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    assert NODE is not None
    return run([NODE, str(script), *args], **kwargs)


def installed() -> bool:
    lock = CLIENT / "package-lock.json"
    return INSTALLED.exists() and INSTALLED.stat().st_mtime >= lock.stat().st_mtime


@pytest.fixture(scope="module")
def node_modules() -> None:
    """The pinned packages, installed with `npm ci` unless they already are."""
    with open(INSTALL_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not installed():
            assert NPM is not None
            result = run([NPM, "ci", "--no-audit", "--no-fund"], timeout=600)
            assert result.returncode == 0, result.stdout + result.stderr
    assert TSC.exists() and OPENAPI_TYPESCRIPT.exists()


def test_the_typed_example_compiles(node_modules):
    result = node(TSC, "--noEmit", "-p", "tsconfig.json")

    assert result.returncode == 0, result.stdout + result.stderr


def test_the_types_are_generated_from_the_committed_schema(node_modules, tmp_path):
    fresh = tmp_path / "schema.d.ts"

    result = node(OPENAPI_TYPESCRIPT, "../../openapi.json", "-o", str(fresh))

    assert result.returncode == 0, result.stdout + result.stderr
    same = (CLIENT / "src" / "schema.d.ts").read_text() == fresh.read_text()
    assert same, "clients/typescript/src/schema.d.ts is not openapi.json's: run `make client`"


@pytest.fixture
def compiled(node_modules) -> Iterator[Path]:
    """The live example compiled to a folder of this test's own under dist/ (inside the package,
    so that Node finds its node_modules and its `"type": "module"`)."""
    out = Path(tempfile.mkdtemp(prefix="test-", dir=_dist()))
    try:
        # Only emitted: test_the_typed_example_compiles checks the types.
        result = node(TSC, "-p", "tsconfig.build.json", "--outDir", str(out), "--noCheck")
        assert result.returncode == 0, result.stdout + result.stderr
        yield out / "examples" / "live.js"
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _dist() -> Path:
    dist = CLIENT / "dist"
    dist.mkdir(exist_ok=True)
    return dist


@pytest.mark.live
@pytest.mark.django_db(transaction=True)
def test_the_live_example_runs_against_the_server(compiled, live_database_url, unique_subject):
    token = mint_development_token(email="typescript@example.com", subject=unique_subject)

    with live_server({"DATABASE_URL": live_database_url}) as url:
        result = node(compiled, env={**os.environ, "BASE_URL": url, "TOKEN": token}, timeout=60)
        log = read_log(url)[-5_000:]
        assert result.returncode == 0, result.stdout + result.stderr + log
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        # What the example says it did is what the server holds.
        project = summary["project"]
        status, _, body = request(
            "GET",
            f"{url}/api/v1/app/projects/{project['id']}",
            headers={"Authorization": f"Bearer {token}"},
        )

    assert summary["ok"] is True, summary
    assert summary["problems"] == []
    assert project["name"].startswith("Typed client ")
    assert (summary["total_before"], summary["total_after"]) == (0, 1)
    assert summary["read_back"] is True and summary["listed_first"] is True
    error = summary["validation_error"]
    assert (error["status"], error["code"], error["fields"]) == (422, "VALIDATION_ERROR", ["name"])
    assert status == 200, body
    stored = json.loads(body)
    assert (stored["name"], stored["owner_id"]) == (project["name"], unique_subject)
    assert stored["description"] == "Created through the TypeScript client."
