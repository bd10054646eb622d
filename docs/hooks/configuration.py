"""The configuration reference, rendered from `.env.example` when the site is built.

`.env.example` is the one list of settings: each `# --- Title ---` line opens a section, each
variable is a `NAME=default` or `# NAME=` line, and the comment lines just above a run of variables
say what they mean. `render()` turns that into Markdown (the file's opening comment, then one table
per section); the MkDocs hook below puts it in place of the marker in docs/configuration.md, so
the page cannot drift from the file. tests/test_docs_site.py checks every variable is on the page.

A variable that an earlier section already defines (the development services' block points
DATABASE_URL and others at docker/compose.dev.yaml) is not listed again: such a block is shown as
the lines to copy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ENV_EXAMPLE = ROOT / ".env.example"
PAGE = "configuration.md"
MARKER = "<!-- env-example -->"

SECTION = re.compile(r"^# -{3} (?P<title>.+?) -*$")
VARIABLE = re.compile(r"^(?P<commented>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")
CODE_SPAN = re.compile(r"(`[^`]*`)")
# Upper-case names with an underscore: variables, whether this file defines them or not.
NAME = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")
MARKDOWN_SPECIAL = re.compile(r"([\\*_|])")


@dataclass
class Variable:
    name: str
    value: str
    commented: bool
    line: str


@dataclass
class Group:
    """Variables written one after the other, and the comment just above them."""

    comment: list[str]
    variables: list[Variable] = field(default_factory=list)


@dataclass
class Section:
    title: str
    groups: list[Group] = field(default_factory=list)


def parse(text: str) -> tuple[list[str], list[Section]]:
    """The opening comment's lines and the sections of an `.env.example` text."""
    preamble: list[str] = []
    sections: list[Section] = []
    comment: list[str] = []
    for line in text.splitlines():
        if heading := SECTION.match(line):
            sections.append(Section(heading["title"]))
            comment = []
        elif match := VARIABLE.match(line):
            if not sections:
                raise ValueError(f".env.example: {match['name']} comes before the first section")
            groups = sections[-1].groups
            if comment or not groups:
                groups.append(Group(comment))
                comment = []
            groups[-1].variables.append(
                Variable(match["name"], match["value"], bool(match["commented"]), line)
            )
        elif line.startswith("#"):
            text_line = line[1:].removeprefix(" ")
            (comment if sections else preamble).append(text_line)
    return preamble, sections


def variable_names(text: str) -> list[str]:
    """Every variable the text defines, in order, each once."""
    _, sections = parse(text)
    names = (
        variable.name
        for section in sections
        for group in section.groups
        for variable in group.variables
    )
    return list(dict.fromkeys(names))


def _inline(text: str, known: set[str]) -> str:
    """Comment text as Markdown: code spans kept, names set as code (linked to their row when
    this file defines them), and what Markdown or a table would read as markup escaped."""
    parts = []
    for part in CODE_SPAN.split(text):
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            parts.append(part)
            continue
        pieces = []
        last = 0
        for match in NAME.finditer(part):
            pieces.append(_escape(part[last : match.start()]))
            name = match.group(0)
            pieces.append(f"[`{name}`](#{name})" if name in known else f"`{name}`")
            last = match.end()
        pieces.append(_escape(part[last:]))
        parts.append("".join(pieces))
    return "".join(parts)


def _escape(text: str) -> str:
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return MARKDOWN_SPECIAL.sub(r"\\\1", text)


def _paragraphs(lines: list[str], known: set[str]) -> str:
    """Comment lines as Markdown: blank lines separate paragraphs, `- ` lines are list items."""
    out: list[str] = []
    for line in lines:
        if not line.strip():
            out.append("")
        elif line.startswith("- "):
            if out and out[-1] and not out[-1].startswith(("- ", " ")):
                out.append("")  # a list starts after a blank line
            out.append("- " + _inline(line[2:], known))
        else:
            out.append(_inline(line, known))
    return "\n".join(out).strip()


def _value_cell(variable: Variable) -> str:
    if not variable.value:
        return "—"
    value = f"`{variable.value}`"
    return f"{value} (commented out)" if variable.commented else value


def render(text: str) -> str:
    """The Markdown of the whole reference."""
    preamble, sections = parse(text)
    known = set(variable_names(text))
    defined: set[str] = set()
    out = [_paragraphs(preamble, known), ""]
    for section in sections:
        out += [f"## {_inline(section.title, known)}", ""]
        rows: list[str] = []
        for group in section.groups:
            names = [variable.name for variable in group.variables]
            meaning = " ".join(line.strip() for line in group.comment if line.strip())
            if all(name in defined for name in names):
                # A block of settings to copy (its variables are defined above).
                if rows:
                    out += [*_table(rows), ""]
                    rows = []
                out += [_inline(meaning, known), "", "```sh"]
                out += [variable.line for variable in group.variables]
                out += ["```", ""]
                continue
            cells = [
                "<br>".join(
                    f"`{name}`" if name in defined else f'<a id="{name}"></a>`{name}`'
                    for name in names
                ),
                "<br>".join(_value_cell(variable) for variable in group.variables),
                _inline(meaning, known) or "—",
            ]
            defined.update(names)
            rows.append("| " + " | ".join(cells) + " |")
        if rows:
            out += [*_table(rows), ""]
    return "\n".join(out).rstrip() + "\n"


def _table(rows: list[str]) -> list[str]:
    return ["| Variable | Value | Meaning |", "|---|---|---|", *rows]


# --- MkDocs hooks ----------------------------------------------------------------------------


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    """Put the reference in place of the marker on the configuration page."""
    if page.file.src_uri != PAGE:
        return markdown
    if MARKER not in markdown:
        from mkdocs.exceptions import PluginError

        raise PluginError(f"docs/{PAGE} lost its marker {MARKER}")
    return markdown.replace(MARKER, render(ENV_EXAMPLE.read_text()))


def on_serve(server: Any, config: Any, builder: Any) -> Any:
    """`mkdocs serve` rebuilds when .env.example changes."""
    server.watch(str(ENV_EXAMPLE))
    return server
