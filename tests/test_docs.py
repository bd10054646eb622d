"""The architecture docs stay true to the code.

- Every path (`accounts/personal_data.py`, `billing/<source>/intake.py`) and every dotted name of
  this project (`webhooks.services.webhook_receive`) that the pages of docs/, README.md and
  docker/README.md put in backticks exists, and every identifier the two guides name
  (`ProjectListCreateView`, `entitlement_upsert`) occurs in the code.
- Every `make` target the docs give exists; the runbooks name admin actions, metrics and log
  lines the code has.
- The Python blocks of the docs parse, and what they import exists. A block that starts with
  `# <path>.py` is a copy of that file: each function, class or assignment in it equals the one
  in the file (compared as syntax trees, so comments and formatting may differ).
- The request walk lists the middleware in the order of `settings.MIDDLEWARE`, and the DRF
  classes of `settings.REST_FRAMEWORK`; the layer diagram is the layers contract of
  `.importlinter`; the apps table names every app of the project.

The worked example's own app (`notes`) does not exist: its paths and names are not looked up.
"""

from __future__ import annotations

import ast
import configparser
import functools
import importlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
ARCHITECTURE = DOCS / "architecture.md"
ADDING = DOCS / "adding-a-resource.md"
GUIDES = (ARCHITECTURE, ADDING)
# The documentation site's own pages (mkdocs.yml), beside the two guides.
SITE_PAGES = tuple(
    DOCS / name
    for name in (
        "index.md",
        "api.md",
        "realtime.md",
        "configuration.md",
        "operations.md",
        "deployment.md",
        "development.md",
        "features/billing.md",
        "features/webhooks.md",
        "features/ai.md",
        "features/usage.md",
        "features/flags.md",
        "features/email.md",
        "features/background-work.md",
        "features/observability.md",
        "features/staff-console.md",
    )
)
RUNBOOKS = DOCS / "operations.md"
ALL_DOCS = (*GUIDES, *SITE_PAGES, ROOT / "README.md", ROOT / "docker" / "README.md")

# The app docs/adding-a-resource.md creates: its files and names are the reader's to write.
EXAMPLE_APP = "notes"
EXAMPLE_PREFIXES = (f"{EXAMPLE_APP}/", f"tests/{EXAMPLE_APP}/", f"{EXAMPLE_APP}.")
# Third-party packages whose dotted names the docs may cite (and which are checked too).
THIRD_PARTY = frozenset(
    {
        "django",
        "rest_framework",
        "drf_spectacular",
        "corsheaders",
        "whitenoise",
        "django_prometheus",
    }
)

FENCE = re.compile(r"^```[^\n]*\n.*?^```[ \t]*$", re.S | re.M)
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```[ \t]*$", re.S | re.M)
INLINE_CODE = re.compile(r"`([^`]+)`")
DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+")
IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
COPY_HEADER = re.compile(r"# (\S+\.py)")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def project_packages() -> frozenset[str]:
    """Top-level packages of this repository (the apps, config, tests, bench)."""
    return frozenset(path.name for path in ROOT.iterdir() if (path / "__init__.py").is_file()) - {
        EXAMPLE_APP
    }


def local_apps() -> set[str]:
    """The packages of INSTALLED_APPS that live in this repository (an entry may name an
    AppConfig, e.g. console.apps.ConsoleAdminConfig: its package is the app)."""
    packages = {entry.split(".")[0] for entry in settings.INSTALLED_APPS}
    return {package for package in packages if (ROOT / package).is_dir()}


def read(doc: Path) -> str:
    assert doc.is_file(), f"{doc.relative_to(ROOT)} is missing"
    return doc.read_text()


def prose(text: str) -> str:
    """The text without its fenced blocks."""
    return FENCE.sub("", text)


def inline_code(text: str) -> list[str]:
    """What the prose puts in backticks, a call's arguments dropped (`f(x)` → `f`)."""
    spans = (" ".join(span.split()) for span in INLINE_CODE.findall(prose(text)))
    return [span.split("(")[0].strip() if "(" in span else span for span in spans]


def section(text: str, heading: str) -> str:
    """The `## heading...` section of `text`, up to the next `## ` heading."""
    match = re.search(rf"^## {re.escape(heading)}.*?(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no section '## {heading}'"
    return match.group(0)


def python_blocks(text: str) -> list[str]:
    return PYTHON_BLOCK.findall(text)


def is_example(token: str) -> bool:
    return token.startswith(EXAMPLE_PREFIXES) or token == EXAMPLE_APP


def ignored_by_git() -> set[str]:
    """Plain names in .gitignore (`.env`): local files the docs may name but the repo lacks."""
    lines = (ROOT / ".gitignore").read_text().splitlines()
    return {line.strip().strip("/") for line in lines if line.strip() and line[0] not in "#!*"}


def is_path(token: str) -> bool:
    """A repository path: a dotfile, or slashes with a first part that is in the repository or
    a file name or directory at the end (not a URL, an HTTP route or a rate like `60/minute`)."""
    if " " in token or token.startswith(("/", "...", "http:", "https:")):
        return False
    if "/" not in token:
        return re.fullmatch(r"\.[\w.-]+", token) is not None and token not in ignored_by_git()
    first = token.split("/")[0]
    return (ROOT / first).exists() or token.endswith("/") or re.search(r"\.\w+$", token) is not None


def expand_braces(pattern: str) -> list[str]:
    """`a.{txt,html}` → [`a.txt`, `a.html`]."""
    match = re.search(r"\{([^{}]*)\}", pattern)
    if match is None:
        return [pattern]
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [
        path for option in match.group(1).split(",") for path in expand_braces(head + option + tail)
    ]


def path_exists(token: str) -> bool:
    """`<placeholder>` parts match any name (`billing/<source>/intake.py`); `{a,b}` needs both."""
    return all(_exists(pattern) for pattern in expand_braces(token))


def _exists(token: str) -> bool:
    pattern = re.sub(r"<[^>/]+>", "*", token.rstrip("/"))
    if "*" not in pattern:
        return (ROOT / pattern).exists()
    return any(ROOT.glob(pattern))


def resolve(dotted: str) -> object:
    """Import the longest module prefix of `dotted`, then follow attributes; raises if absent."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            target = getattr(target, name)
        return target
    raise ModuleNotFoundError(dotted)


def checked_dotted(token: str) -> bool:
    if DOTTED.fullmatch(token) is None or is_example(token):
        return False
    return token.split(".")[0] in project_packages() | THIRD_PARTY


@functools.cache
def code_strings() -> set[str]:
    """Every string literal of the project's Python source: a dotted name found there is a name
    the code uses as data (an event type such as `billing.updated`), not an import."""
    strings: set[str] = set()
    for package in project_packages():
        for path in (ROOT / package).rglob("*.py"):
            if path != Path(__file__).resolve():
                strings |= set(re.findall(r"""["']([\w.]+)["']""", path.read_text()))
    return strings


def defined_names(tree: ast.Module) -> Iterator[tuple[str, ast.stmt]]:
    """Top-level functions, classes and single-name assignments of a module."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name, node
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                yield target.id, node
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            yield node.target.id, node


def names_defined_in_docs() -> set[str]:
    names: set[str] = set()
    for doc in GUIDES:
        for block in python_blocks(read(doc)):
            tree = ast.parse(block)
            names |= {name for name, _ in defined_names(tree)}
            names |= {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    return names


def code_words() -> set[str]:
    """Every word of the project's Python source (code, strings and comments) and tool files."""
    words: set[str] = set()
    for package in project_packages():
        for path in (ROOT / package).rglob("*.py"):
            if path != Path(__file__).resolve():  # not the names this test quotes
                words |= set(IDENTIFIER.findall(path.read_text()))
    for config_file in (".importlinter", "Makefile", "pyproject.toml"):
        if (ROOT / config_file).is_file():
            words |= set(IDENTIFIER.findall((ROOT / config_file).read_text()))
    return words


# --- names and paths -------------------------------------------------------------------------


@pytest.mark.parametrize("doc", ALL_DOCS, ids=lambda doc: str(doc.relative_to(ROOT)))
def test_every_path_in_backticks_exists(doc):
    missing = [
        token
        for token in inline_code(read(doc))
        if is_path(token) and not is_example(token) and not path_exists(token)
    ]

    assert not missing, f"{doc.relative_to(ROOT)} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", ALL_DOCS, ids=lambda doc: str(doc.relative_to(ROOT)))
def test_every_dotted_name_in_backticks_imports(doc):
    missing = []
    for token in inline_code(read(doc)):
        if not checked_dotted(token) or token in code_strings():
            continue
        try:
            resolve(token)
        except (ImportError, AttributeError) as error:
            missing.append(f"{token} ({type(error).__name__}: {error})")

    assert not missing, f"{doc.relative_to(ROOT)} names what does not exist: {missing}"


@pytest.mark.parametrize("doc", GUIDES, ids=lambda doc: doc.name)
def test_every_identifier_in_backticks_occurs_in_the_code(doc):
    known = code_words() | names_defined_in_docs()
    # Identifiers only: snake_case or CamelCase names (plain words may be prose).
    names = {
        token
        for token in inline_code(read(doc))
        if IDENTIFIER.fullmatch(token)
        and ("_" in token.strip("_") or token[1:] != token[1:].lower())
    }

    missing = sorted(names - known)
    assert not missing, f"{doc.name} names what the code does not have: {missing}"


@pytest.mark.parametrize("doc", ALL_DOCS, ids=lambda doc: str(doc.relative_to(ROOT)))
def test_relative_links_resolve(doc):
    text = prose(read(doc))
    targets = [link.split("#")[0] for link in MARKDOWN_LINK.findall(text)]
    broken = [
        target
        for target in targets
        if target and "://" not in target and not (doc.parent / target).exists()
    ]

    assert not broken, f"{doc.relative_to(ROOT)} links to missing files: {broken}"


# --- code blocks -----------------------------------------------------------------------------


@pytest.mark.parametrize("doc", GUIDES, ids=lambda doc: doc.name)
def test_python_blocks_parse_and_their_imports_exist(doc):
    ours = project_packages() | THIRD_PARTY | {"__future__"}
    defined = names_defined_in_docs()
    problems = []
    for block in python_blocks(read(doc)):
        tree = ast.parse(block)  # a SyntaxError names the block's line
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                module, names = node.module, [alias.name for alias in node.names]
            elif isinstance(node, ast.Import):
                module, names = "", [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                dotted = f"{module}.{name}" if module else name
                if dotted.split(".")[0] not in ours or is_example(dotted) or name in defined:
                    continue
                try:
                    resolve(dotted)
                except (ImportError, AttributeError):
                    problems.append(f"from {module} import {name}" if module else f"import {name}")

    assert not problems, f"{doc.name} imports what does not exist: {problems}"


def copied_blocks() -> Iterator[tuple[str, str, str]]:
    """(doc name, path, block) of every block that starts with `# <path>.py`."""
    for doc in GUIDES:
        for block in python_blocks(read(doc)):
            header, _, body = block.partition("\n")
            match = COPY_HEADER.fullmatch(header.strip())
            if match and not is_example(match.group(1)):
                yield doc.name, match.group(1), body


@pytest.mark.parametrize(
    ("doc", "path", "block"),
    [pytest.param(*copy, id=f"{copy[0]}:{copy[1]}") for copy in copied_blocks()],
)
def test_copied_code_matches_its_file(doc, path, block):
    source_path = ROOT / path
    assert source_path.is_file(), f"{doc}: {path} does not exist"
    source = dict(defined_names(ast.parse(source_path.read_text())))
    copied = list(defined_names(ast.parse(block)))
    assert copied, f"{doc}: the block of {path} defines nothing to compare"

    for name, node in copied:
        assert name in source, f"{doc}: {path} has no {name} any more"
        assert ast.dump(node) == ast.dump(source[name]), (
            f"{doc}: the copy of {path}:{name} differs from the code; copy it again"
        )


def test_there_are_copied_blocks_to_compare():
    copied = {(doc, path) for doc, path, _ in copied_blocks()}

    assert ("adding-a-resource.md", "tests/projects/test_project_api.py") in copied
    assert ("architecture.md", "projects/apps.py") in copied


# --- architecture.md against the configuration -----------------------------------------------


def test_the_request_walk_lists_the_middleware_in_order():
    walk = inline_code(section(read(ARCHITECTURE), "A request"))
    middleware = list(settings.MIDDLEWARE)
    mentioned = list(dict.fromkeys(token for token in walk if token in middleware))

    assert mentioned == middleware


def test_the_request_walk_names_the_drf_classes_in_use():
    walk = set(inline_code(section(read(ARCHITECTURE), "A request")))
    drf = settings.REST_FRAMEWORK
    classes = [
        *drf["DEFAULT_AUTHENTICATION_CLASSES"],
        *drf["DEFAULT_PERMISSION_CLASSES"],
        *drf["DEFAULT_THROTTLE_CLASSES"],
        drf["EXCEPTION_HANDLER"],
    ]

    assert [name for name in classes if name not in walk] == []


def documented_layers() -> list[set[str]]:
    """The layer diagram of "Who may import whom": one set of apps per line, top first."""
    block = re.search(
        r"```text\n(.*?)```", section(read(ARCHITECTURE), "Who may import whom"), re.S
    )
    assert block, "no layer diagram in 'Who may import whom'"
    return [
        {app.strip() for app in re.split(r"\s{2,}", line.strip())[0].split("|")}
        for line in block.group(1).splitlines()
        if line.strip()
    ]


def contract_layers() -> list[set[str]]:
    """The layers contract of .importlinter, without its optional (not yet existing) layers."""
    path = ROOT / ".importlinter"
    assert path.is_file(), ".importlinter is missing"
    config = configparser.ConfigParser()
    config.read(path)
    for name in config.sections():
        if name.startswith("importlinter:contract:") and config[name].get("type") == "layers":
            return [
                {
                    app.strip()
                    for app in re.split(r"[|:]", line)
                    if app.strip() and not app.strip().startswith("(")
                }
                for line in config[name]["layers"].splitlines()
                if line.strip()
            ]
    raise AssertionError(".importlinter has no layers contract")


def test_the_layer_diagram_is_the_import_contract():
    assert documented_layers() == contract_layers()


def test_make_lint_checks_the_import_contract():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^lint:.*?\n((?:\t.*\n)+)", makefile, re.M)

    assert recipe and "lint-imports" in recipe.group(1)


def test_the_docs_name_every_app():
    apps_section = section(read(ARCHITECTURE), "The apps")
    tabled = {
        token.rstrip("/") for token in inline_code(apps_section) if re.fullmatch(r"\w+/", token)
    }
    layered = set().union(*documented_layers())

    assert tabled == local_apps()
    assert layered == local_apps()


def test_every_settings_module_is_named():
    modules = {path.stem for path in (ROOT / "config" / "settings").glob("*.py")} - {"__init__"}
    named = set(inline_code(read(ARCHITECTURE)))

    assert (ROOT / "config" / "settings" / "__init__.py").is_file(), "config.settings is no package"
    assert sorted(modules - named) == []


# --- README ----------------------------------------------------------------------------------


def test_the_readme_opens_with_the_two_commands_then_links_the_docs():
    readme = read(ROOT / "README.md")
    top = readme.split("\n## ", 1)[0]
    first_block = re.search(r"```sh\n(.*?)```", top, re.S)

    assert first_block
    commands = [line.split("#")[0].strip() for line in first_block.group(1).splitlines()]
    assert commands[:2] == ["make run", "make test"]
    after = top[first_block.end() :]
    assert "(docs/architecture.md)" in after
    assert "(docs/adding-a-resource.md)" in after


# --- the site's pages against the code -------------------------------------------------------

# `make x` in the prose's code, or a line of a code block that runs it.
MAKE_COMMAND = re.compile(r"`make ([a-z][\w-]*)|^\s*make ([a-z][\w-]*)", re.M)
METRIC = re.compile(r"\bgroundwork_[a-z_]+")
BOLD = re.compile(r"\*\*([^*]+)\*\*")


def makefile_targets() -> set[str]:
    makefile = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))


@pytest.mark.parametrize("doc", ALL_DOCS, ids=lambda doc: str(doc.relative_to(ROOT)))
def test_every_make_target_the_docs_give_exists(doc):
    named = {inline or block for inline, block in MAKE_COMMAND.findall(read(doc))}

    assert sorted(named - makefile_targets()) == []


def test_the_runbooks_name_the_metrics_the_app_exports():
    exported = {
        name
        for path in ROOT.glob("*/metrics.py")
        for name in re.findall(r'"(groundwork_[a-z_]+)"', path.read_text())
    }
    named = {
        re.sub(r"_(total|bucket|sum|count)$", "", metric)
        for metric in METRIC.findall(read(RUNBOOKS))
    }

    assert named, "the runbooks name no metric"
    # `groundwork_jobs_*` names a family: some exported metric starts with it.
    unknown = [
        name
        for name in named
        if name not in exported
        and not (name.endswith("_") and any(f"{metric}_".startswith(name) for metric in exported))
    ]
    assert sorted(unknown) == []


def test_the_runbooks_name_admin_actions_the_admin_has():
    descriptions = set()
    for path in ROOT.glob("*/admin.py"):
        descriptions |= set(re.findall(r'@admin\.action\(description="([^"]+)"', path.read_text()))
    named = {phrase for phrase in BOLD.findall(read(RUNBOOKS)) if phrase in descriptions}

    assert named >= {
        "Process again",
        "Run failed tasks again",
        "Retry selected failed emails",
        "Restore selected projects",
    }


def test_the_runbooks_quote_log_lines_the_code_writes():
    source = (ROOT / "ai" / "breaker.py").read_text() + (ROOT / "ai" / "router.py").read_text()
    quoted = re.findall(r"`(AI [^`]+)`", read(RUNBOOKS))

    assert quoted
    for line in quoted:
        pattern = re.sub(r"<[^>]+>", "%[sd]", line)
        assert re.search(re.escape(pattern).replace(re.escape("%[sd]"), "%[sd]"), source), line
