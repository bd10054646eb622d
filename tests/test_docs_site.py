"""The documentation site builds with `mkdocs build --strict` (no warning: a broken link, a page
left out of the navigation, a missing anchor all fail it), and its configuration reference, made
from `.env.example` by docs/hooks/configuration.py, lists every variable of that file."""

from __future__ import annotations

import html
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deployment.files import ENV_EXAMPLE, env_example_names

ROOT = Path(__file__).resolve().parent.parent
MKDOCS = Path(sys.executable).parent / "mkdocs"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once into a temporary folder (never the repository's site/)."""
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [str(MKDOCS), "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARNING")]
    assert warnings == []
    return out


def mkdocs_config() -> dict[str, Any]:
    # mkdocs.yml names a Python function with a !!python/name tag: read it as plain text there.
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("tag:yaml.org,2002:python/", lambda *_: None)
    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=Loader)  # noqa: S506
    assert isinstance(config, dict)
    return config


def test_every_page_of_the_navigation_is_built(site: Path):
    pages = [next(iter(entry.values())) for entry in mkdocs_config()["nav"]]

    assert "index.md" in pages and "configuration.md" in pages
    for page in pages:
        built = site / (
            "index.html" if page == "index.md" else f"{page.removesuffix('.md')}/index.html"
        )
        assert built.is_file(), page


def test_every_markdown_file_of_docs_is_in_the_navigation():
    pages = {next(iter(entry.values())) for entry in mkdocs_config()["nav"]}
    markdown = {str(path.relative_to(ROOT / "docs")) for path in (ROOT / "docs").rglob("*.md")}

    assert markdown == pages


def test_the_configuration_page_lists_every_variable_of_env_example(site: Path):
    page = (site / "configuration" / "index.html").read_text()
    names = env_example_names()
    assert len(names) > 150

    missing = [name for name in names if f'id="{name}"' not in page]
    assert missing == []


def test_the_configuration_page_shows_each_default_and_meaning(site: Path):
    page = html.unescape(
        re.sub(r"<[^>]+>", "", (site / "configuration" / "index.html").read_text())
    )
    text = " ".join(page.split())

    # A set line's value, and the comment above it, as .env.example writes them.
    assert "RATE_LIMIT_DEFAULT 60/minute Requests allowed per caller" in text
    assert "DATABASE_POOL_MAX_SIZE 10 PostgreSQL only: most connections per process" in text
    # A commented-out variable has no value on the page, its meaning still.
    assert "SECRET_KEY — Django's signing key." in text
    # The development services' block, to copy.
    dev_line = "# EMAIL_HOST=127.0.0.1"
    assert dev_line in ENV_EXAMPLE.read_text() and dev_line in text


def test_the_site_is_not_built_into_the_repository():
    assert "site/" in (ROOT / ".gitignore").read_text().splitlines()


def load_hook() -> Any:
    spec = importlib.util.spec_from_file_location(
        "configuration_hook", ROOT / "docs" / "hooks" / "configuration.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_hook_renders_sections_groups_and_copy_blocks():
    hook = load_hook()
    text = "\n".join(
        [
            "# Opening words.",
            "#",
            "# - a list item",
            "",
            "# --- First -----",
            "# Shared meaning, <count>/<second|minute>; see SECOND_NAME.",
            "FIRST_NAME=1",
            "# SECOND_NAME=",
            "# --- Copy ---",
            "# Point at the service:",
            "# FIRST_NAME=2",
        ]
    )

    markdown = hook.render(text)

    assert hook.variable_names(text) == ["FIRST_NAME", "SECOND_NAME"]
    assert "## First" in markdown and "## Copy" in markdown
    row = next(line for line in markdown.splitlines() if "FIRST_NAME" in line and "|" in line)
    assert '<a id="FIRST_NAME"></a>`FIRST_NAME`<br><a id="SECOND_NAME"></a>`SECOND_NAME`' in row
    assert "`1`<br>—" in row
    assert "&lt;count&gt;/&lt;second\\|minute&gt;" in row  # no HTML tag, no extra column
    assert "[`SECOND_NAME`](#SECOND_NAME)" in row
    assert "```sh\n# FIRST_NAME=2\n```" in markdown  # defined above: shown as lines to copy
    assert markdown.count('id="FIRST_NAME"') == 1
    assert "\n\n- a list item" in markdown
