"""The import contract (`.importlinter`) bites: one wrong import in a copy of the apps breaks it.

Each test copies the Python files of the contract's root packages into a temporary directory,
optionally adds a single import that the architecture forbids, and runs `lint-imports` there.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CONTRACT = REPO / ".importlinter"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _config() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(CONTRACT)
    return parser


def _root_packages() -> list[str]:
    return _config()["importlinter"]["root_packages"].split()


def _contract_name(contract_id: str) -> str:
    return _config()[f"importlinter:contract:{contract_id}"]["name"]


def _not_python_source(directory: str, names: list[str]) -> list[str]:
    """For `shutil.copytree`: skip everything but Python files and the folders holding them."""
    return [
        name
        for name in names
        if name == "__pycache__"
        or (not name.endswith(".py") and not (Path(directory) / name).is_dir())
    ]


def _copy_apps(dest: Path) -> None:
    for package in _root_packages():
        shutil.copytree(REPO / package, dest / package, ignore=_not_python_source)
    shutil.copy(CONTRACT, dest / ".importlinter")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "400", "NO_COLOR": "1"}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(root / ".importlinter"), "--no-cache"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _add_import(root: Path, module_file: str, statement: str) -> None:
    path = root / module_file
    path.write_text(path.read_text() + f"\n{statement}  # deliberately wrong\n")


def _kept_or_broken(output: str, name: str) -> str:
    match = re.search(re.escape(name) + r"\s+(KEPT|BROKEN)", output)
    assert match, f"contract {name!r} not reported:\n{output}"
    return match.group(1)


def test_untouched_copy_keeps_every_contract(tmp_path):
    _copy_apps(tmp_path)

    result = _lint_imports(tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module_file", "statement", "broken", "edge"),
    [
        # Infrastructure reaching up into the domain.
        (
            "usage/services.py",
            "import billing.models",
            {"layers"},
            "usage.services -> billing.models",
        ),
        # Identity reaching up into the domain.
        (
            "accounts/services.py",
            "from projects import models",
            {"layers", "accounts-knows-no-domain"},
            "accounts.services -> projects.models",
        ),
        # billing reading its consumers (same layer: the layers contract allows it).
        (
            "billing/selectors.py",
            "import files.models",
            {"billing-knows-no-consumers"},
            "billing.selectors -> files.models",
        ),
        # Domain siblings.
        (
            "projects/services.py",
            "import ai.models",
            {"domain-independence"},
            "projects.services -> ai.models",
        ),
        # Infrastructure siblings.
        (
            "audit/services.py",
            "import notifications.models",
            {"infrastructure-independence"},
            "audit.services -> notifications.models",
        ),
        # The webhook ledger is below the apps that receive through it (notifications).
        (
            "webhooks/services.py",
            "import notifications.models",
            {"layers"},
            "webhooks.services -> notifications.models",
        ),
        # usage is the lowest infrastructure: it meters, it calls no one above it.
        (
            "usage/services.py",
            "import webhooks.models",
            {"layers"},
            "usage.services -> webhooks.models",
        ),
    ],
    ids=[
        "usage-to-billing",
        "accounts-to-projects",
        "billing-to-files",
        "projects-to-ai",
        "audit-to-notifications",
        "webhooks-to-notifications",
        "usage-to-webhooks",
    ],
)
def test_a_wrong_import_breaks_the_contract(tmp_path, module_file, statement, broken, edge):
    _copy_apps(tmp_path)
    _add_import(tmp_path, module_file, statement)

    result = _lint_imports(tmp_path)

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    # Other contracts may break too, through indirect chains (e.g. accounts -> usage -> billing).
    for contract_id in broken:
        assert _kept_or_broken(output, _contract_name(contract_id)) == "BROKEN", output
    assert edge in output
