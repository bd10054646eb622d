"""Reading the deployment files the way Docker and Compose read them, for the tests."""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DOCKERFILE = BASE_DIR / "docker" / "Dockerfile"
COMPOSE = BASE_DIR / "docker" / "compose.yaml"
ENTRYPOINT = BASE_DIR / "docker" / "entrypoint.sh"
ENV_EXAMPLE = BASE_DIR / ".env.example"
NGINX_CONF = BASE_DIR / "docker" / "nginx.conf"

# What an operator exports before `docker compose up` (the ${NAME:?...} variables).
SHELL_SECRETS = {
    "SECRET_KEY": "compose-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "AUTH_JWT_SECRET": "compose-test-jwt-secret-0123456789abcdef",
    "METRICS_TOKEN": "compose-test-metrics-token-0123456789",
    "AWS_SECRET_ACCESS_KEY": "compose-test-minio-app-secret",
    "MINIO_ROOT_PASSWORD": "compose-test-minio-root-password",
}

_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
)


def compose() -> dict[str, Any]:
    """docker/compose.yaml, parsed (YAML anchors and merge keys resolved)."""
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


def interpolate(value: str, shell: dict[str, str]) -> str:
    """Compose's `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?error}` and `$$`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        current = shell.get(name)
        if op == ":-":
            return current if current else arg
        if op == "-":
            return current if current is not None else arg
        if (op == ":?" and not current) or (op == "?" and current is None):
            raise KeyError(f"{name}: {arg}")
        return current or ""

    return _INTERPOLATION.sub(replace, value)


def service_environment(service: str, shell: dict[str, str] | None = None) -> dict[str, str]:
    """The variables Compose sets in `service`'s container, with only SHELL_SECRETS exported.

    Pass-through entries (no value) are left out, as Compose leaves them out when the shell does
    not set them.
    """
    env = compose()["services"][service].get("environment") or {}
    shell = {**SHELL_SECRETS, **(shell or {})}
    return {
        name: interpolate(str(value), shell) for name, value in env.items() if value is not None
    }


def env_example_names() -> list[str]:
    """Every variable .env.example names, set (`NAME=`) or commented out (`# NAME=`)."""
    names: list[str] = []
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^(?:#\s*)?([A-Z][A-Z0-9_]*)=", line)
        if match and match.group(1) not in names:
            names.append(match.group(1))
    return names


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def final_stage() -> list[tuple[str, str]]:
    """The instructions of the last stage: the image that runs."""
    instructions = dockerfile_instructions()
    start = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[start:]


def image_env(*, before: int | None = None) -> dict[str, str]:
    """The ENV values of the final stage (those set before instruction `before`, when given)."""
    env: dict[str, str] = {}
    for keyword, arguments in final_stage()[:before]:
        if keyword == "ENV":
            for pair in shlex.split(arguments):
                name, _, value = pair.partition("=")
                env[name] = value
    env.pop("PATH", None)  # the image's virtualenv; here, ours
    return env


def local_path() -> str:
    """PATH with this virtualenv first: `python`, `celery`, `gunicorn` resolve as in the image."""
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"


# --- docker/nginx.conf --------------------------------------------------------------------------

_NGINX_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[{};]|[^\s{};]+')


@dataclass
class NginxBlock:
    """A block of nginx configuration: its directives (name -> list of argument lists, in order)
    and its nested blocks (`server`, `location`, `map`), each with the arguments that open it."""

    args: list[str] = field(default_factory=list)
    directives: dict[str, list[list[str]]] = field(default_factory=dict)
    blocks: list[tuple[str, NginxBlock]] = field(default_factory=list)

    def one(self, name: str) -> list[str]:
        """The arguments of the directive `name`, which must appear once in this block."""
        found = self.directives.get(name, [])
        assert len(found) == 1, f"{name}: {found}"
        return found[0]

    def children(self, name: str) -> list[NginxBlock]:
        return [block for kind, block in self.blocks if kind == name]


def nginx_config(text: str | None = None) -> NginxBlock:
    """docker/nginx.conf (or `text`) parsed: comments dropped, quotes removed."""
    source = NGINX_CONF.read_text() if text is None else text
    lines = [
        line.split("#", 1)[0] if not line.lstrip().startswith("#") else ""
        for line in source.splitlines()
    ]
    tokens = _NGINX_TOKEN.findall("\n".join(lines))
    root = NginxBlock()
    stack = [root]
    words: list[str] = []
    for token in tokens:
        if token == "{":
            block = NginxBlock(args=words[1:])
            stack[-1].blocks.append((words[0], block))
            stack.append(block)
            words = []
        elif token == "}":
            stack.pop()
        elif token == ";":
            stack[-1].directives.setdefault(words[0], []).append(words[1:])
            words = []
        else:
            words.append(token[1:-1] if token[:1] in "\"'" else token)
    assert len(stack) == 1 and not words, "unbalanced braces"
    return root
