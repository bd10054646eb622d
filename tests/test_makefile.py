"""The Makefile as a newcomer meets it: `make` lists every target with what it does, `make install`
shows pip's progress and says what it is doing, `make run` migrates and prints its banner before
the server starts."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAKEFILE = ROOT / "Makefile"
# A rule's target: a name at the start of a line, then `:` that is not `:=` (an assignment).
RULE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)\s*:(?!=)", re.M)


def make(*args: str) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout


def declared_targets() -> list[str]:
    return RULE.findall(MAKEFILE.read_text())


def phony_targets() -> set[str]:
    text = MAKEFILE.read_text().replace("\\\n", " ")
    return {name for line in re.findall(r"^\.PHONY:(.*)$", text, re.M) for name in line.split()}


def listed(output: str) -> dict[str, str]:
    """`make help`'s lines as {target: description}."""
    return dict(re.findall(r"^  (\S+) +(\S.*)$", output, re.M))


def test_help_lists_every_target_with_a_description():
    targets = declared_targets()
    assert {"help", "install", "run", "demo", "migrate", "test", "lint"} <= set(targets)

    described = listed(make("help"))

    assert sorted(set(targets) - set(described)) == []
    assert all(len(described[target]) > 10 for target in targets)
    assert sorted(set(described) - set(targets)) == []


def test_make_alone_is_help():
    assert make() == make("help")


def test_every_target_is_phony():
    # Targets name actions, not files: without .PHONY, `make docs` would find the docs/ folder
    # up to date and do nothing.
    assert sorted(set(declared_targets()) - phony_targets()) == []


def test_run_migrates_then_prints_the_banner_before_the_server_starts():
    # One Python start for all three (tests/console/test_welcome_serve.py runs it for real):
    # Django's start-up is most of a restart's cost.
    steps = [step for step in make("-n", "run").splitlines() if "manage.py" in step]

    assert len(steps) == 1
    assert steps[0].endswith("manage.py welcome --migrate --serve 127.0.0.1:8000")


def test_demo_migrates_then_seeds():
    steps = make("-n", "demo").splitlines()

    assert re.search(r"manage\.py migrate --check", steps[-2])
    assert steps[-1].endswith("manage.py demo")


def test_install_shows_pips_progress_and_says_what_it_does():
    # -B: the recipe as a fresh clone runs it, whether or not .venv is already installed.
    steps = make("-n", "-B", "install")

    installs = [step for step in steps.splitlines() if "pip install" in step]
    assert any("-r requirements/dev.txt" in step for step in installs)
    assert not any("--quiet" in step or " -q" in step for step in installs)
    assert "Creating the virtualenv .venv" in steps
    assert "Installing requirements/dev.txt" in steps
    assert "Done: .venv is ready." in steps
