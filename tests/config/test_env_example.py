""".env.example is the one list of settings: the code reads nothing it leaves out, and it lists
nothing the code does not read.

The reads are found in the source: every call of the settings' reader (`env.str("NAME", ...)`,
`env.int`, `env.bool`, `env.list`, `env.choice`, `env.rate`, `env.db`, `env.is_set`) and every
`os.environ.get("NAME")`, `os.environ["NAME"]` or `os.getenv("NAME")` in the project's packages
(gunicorn's config file and the tracing set-up read the process environment). A name built with
an f-string (`f"AI_ROUTE_{complexity.upper()}"`) is a pattern whose placeholders match any
upper-case word; a name held in a variable is followed to the f-string or literal assigned to it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deployment.files import env_example_names

ROOT = Path(__file__).resolve().parent.parent.parent
# Code that is not the app's: the tests set variables for the processes they start, the
# benchmarks for theirs.
NOT_APP = {"tests", "bench", "docs"}
READER_METHODS = {"str", "int", "bool", "list", "choice", "rate", "db", "is_set"}
# Read by the code, deliberately not settings of .env.example:
NOT_SETTINGS = {
    # boto3's own variables, fallbacks of AWS_SES_REGION (its comment names them).
    "AWS_REGION": "boto3",
    "AWS_DEFAULT_REGION": "boto3",
    # OpenTelemetry's own fallback of OTEL_PYTHON_DJANGO_EXCLUDED_URLS.
    "OTEL_PYTHON_EXCLUDED_URLS": "OpenTelemetry",
    # The benchmark's switch for its two ceiling endpoints, set by bench/run.py only.
    "BENCH_CEILINGS": "bench/run.py",
    # Django's autoreloader marks its serving child with it (`make run`'s banner reads it).
    "RUN_MAIN": "Django's autoreloader",
}


def app_modules() -> Iterator[Path]:
    """Every Python file of the project's own packages (migrations included)."""
    for package in sorted(ROOT.iterdir()):
        if package.name in NOT_APP or not (package / "__init__.py").is_file():
            continue
        yield from sorted(package.rglob("*.py"))
    yield ROOT / "manage.py"


def _is_environ(node: ast.expr) -> bool:
    """`os.environ`."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr == "environ"
        and isinstance(node.value, ast.Name)
        and node.value.id == "os"
    )


def _name_argument(call: ast.Call) -> ast.expr | None:
    """The node naming the variable, when `call` reads one."""
    function = call.func
    if not call.args or not isinstance(function, ast.Attribute):
        return None
    receiver = function.value
    if isinstance(receiver, ast.Name) and receiver.id == "env":
        return call.args[0] if function.attr in READER_METHODS else None
    if function.attr == "get" and _is_environ(receiver):
        return call.args[0]
    if function.attr == "getenv" and isinstance(receiver, ast.Name) and receiver.id == "os":
        return call.args[0]
    return None


def _pattern(node: ast.expr, assigned: dict[str, ast.expr]) -> str | None:
    """A regex matching the names `node` may evaluate to, or None when it cannot be followed."""
    if isinstance(node, ast.Name) and node.id in assigned:
        return _pattern(assigned[node.id], {})
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return re.escape(node.value)
    if isinstance(node, ast.JoinedStr):
        parts = [
            re.escape(value.value)
            if isinstance(value, ast.Constant) and isinstance(value.value, str)
            else "[A-Z0-9_]+"
            for value in node.values
        ]
        return "".join(parts)
    return None


def reads_in(source: str) -> Iterator[str]:
    """The patterns of the variables a module's source reads."""
    tree = ast.parse(source)
    assigned = {
        node.targets[0].id: node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        and len(node.targets) == 1
        and isinstance(node.targets[0], ast.Name)
    }
    for node in ast.walk(tree):
        argument = None
        if isinstance(node, ast.Call):
            argument = _name_argument(node)
        elif isinstance(node, ast.Subscript) and _is_environ(node.value):
            argument = node.slice
        if argument is None:
            continue
        # A name this scan cannot follow is reported as such, so it is never skipped unseen.
        yield _pattern(argument, assigned) or f"<unresolved: {ast.unparse(argument)}>"


def read_patterns() -> dict[str, list[str]]:
    """Pattern → the files that read it."""
    patterns: dict[str, list[str]] = {}
    for path in app_modules():
        for pattern in reads_in(path.read_text()):
            patterns.setdefault(pattern, []).append(str(path.relative_to(ROOT)))
    return patterns


def test_the_scan_finds_literal_built_and_process_reads():
    patterns = read_patterns()

    assert "SECRET_KEY" in patterns  # env.str("SECRET_KEY", ...)
    assert "AI_ROUTE_[A-Z0-9_]+" in patterns  # env.str(f"AI_ROUTE_{...}")
    assert "BILLING_[A-Z0-9_]+_AI_MODELS" in patterns  # name = f"..."; env.list(name, ...)
    assert "GUNICORN_BIND" in patterns  # os.environ.get in config/gunicorn.py
    assert len(patterns) > 150


@pytest.mark.parametrize(
    "source",
    [
        'env.str("SOME_NAME")',
        'env.choice("SOME_NAME", ("a",), "a")',
        'os.environ.get("SOME_NAME")',
        'os.environ["SOME_NAME"]',
        'os.getenv("SOME_NAME", "x")',
        'name = "SOME_NAME"\nenv.int(name, 1)',
    ],
)
def test_each_way_of_reading_a_variable_is_seen(source):
    assert list(reads_in(source)) == ["SOME_NAME"]


def test_every_variable_the_code_reads_is_in_env_example():
    names = set(env_example_names())
    missing = {
        pattern: files
        for pattern, files in read_patterns().items()
        if not any(re.fullmatch(pattern, name) for name in names) and pattern not in NOT_SETTINGS
    }

    assert not missing, f"read by the code but not in .env.example: {missing}"


def test_every_variable_of_env_example_is_read_by_the_code():
    patterns = list(read_patterns())
    names = env_example_names()
    assert len(names) > 150  # the parser reads the file

    unread = [name for name in names if not any(re.fullmatch(p, name) for p in patterns)]
    assert not unread, f"in .env.example but read nowhere: {unread}"
