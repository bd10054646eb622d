"""The commit hooks run the tools at the versions the project pins."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent


def pinned(requirements: str, package: str) -> str:
    text = (ROOT / "requirements" / requirements).read_text()
    match = re.search(rf"^{re.escape(package)}(?:\[[^\]]*\])?==(\S+)$", text, re.M | re.I)
    assert match, f"{package} is not pinned in requirements/{requirements}"
    return match.group(1)


def hook_repos() -> dict[str, dict[str, Any]]:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    return {repo["repo"]: repo for repo in config["repos"]}


def test_the_ruff_hooks_run_the_pinned_ruff():
    ruff = hook_repos()["https://github.com/astral-sh/ruff-pre-commit"]

    assert ruff["rev"] == f"v{pinned('dev.txt', 'ruff')}"
    assert {hook["id"] for hook in ruff["hooks"]} == {"ruff-check", "ruff-format"}


def test_django_upgrade_targets_the_pinned_django():
    django = ".".join(pinned("base.txt", "Django").split(".")[:2])
    upgrade = hook_repos()["https://github.com/adamchainz/django-upgrade"]

    (hook,) = upgrade["hooks"]
    assert hook["args"] == ["--target-version", django]


def test_the_import_contract_hook_runs_the_projects_lint_imports():
    (hook,) = hook_repos()["local"]["hooks"]

    assert hook["entry"] == ".venv/bin/lint-imports"
    assert (ROOT / hook["entry"]).is_file()
    assert hook["pass_filenames"] is False


def test_editorconfig_matches_the_formatter():
    text = (ROOT / ".editorconfig").read_text()
    line_length = re.search(r"^line-length = (\d+)$", (ROOT / "pyproject.toml").read_text(), re.M)

    assert line_length
    python = text.split("[*.py]")[1].split("\n[")[0]
    assert "indent_size = 4" in python
    assert f"max_line_length = {line_length.group(1)}" in python
    assert "end_of_line = lf" in text
    assert "indent_style = tab" in text.split("[Makefile]")[1].split("\n[")[0]
