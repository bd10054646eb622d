"""Trigram index for case-insensitive substring search on project names (PostgreSQL only).

Django's `name__icontains` compiles to `UPPER(name::text) LIKE UPPER(%s)` on PostgreSQL; a GIN
trigram index on that expression serves it. SQLite has no such index type and skips this.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX IF NOT EXISTS projects_name_trgm_idx
    ON projects USING gin (UPPER(name::text) gin_trgm_ops)
    WHERE deleted_at IS NULL;
"""
DROP = "DROP INDEX IF EXISTS projects_name_trgm_idx;"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("projects", "0001_initial")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
