"""The AI usage rows a live server wrote, read from the test's side of its database."""

from __future__ import annotations

import sqlite3
from typing import Any

from ai.models import AIUsage


def live_usage_rows(database_url: str, user_id: str, *columns: str) -> list[tuple[Any, ...]]:
    """`columns` of the user's `ai_usage` rows (`success` as a bool) in the server's database.

    SQLite: the server's file, read directly (the test's own connection is to another database);
    PostgreSQL: the shared test database, through the ORM.
    """
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as db:
            rows = db.execute(
                f"SELECT {', '.join(columns)} FROM ai_usage WHERE user_id = ?",  # noqa: S608
                [user_id],
            ).fetchall()
        flags = [name == "success" for name in columns]
        return [
            tuple(bool(value) if flag else value for flag, value in zip(flags, row, strict=True))
            for row in rows
        ]
    return list(AIUsage.objects.filter(user_id=user_id).values_list(*columns))
