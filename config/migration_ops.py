"""Migration operations shared by apps that take over a model from another app."""

from __future__ import annotations

from typing import Any

from django.db import migrations


def move_content_types(
    *, models: tuple[str, ...], old_app: str, new_app: str
) -> migrations.RunPython:
    """Re-label the moved models' content types, so their permissions, groups and admin history
    follow them to `new_app` (the tables themselves do not change)."""

    def relabel(from_app: str, to_app: str) -> Any:
        def run(apps: Any, schema_editor: Any) -> None:
            content_type = apps.get_model("contenttypes", "ContentType")
            db = schema_editor.connection.alias
            for model in models:
                if content_type.objects.using(db).filter(app_label=to_app, model=model).exists():
                    continue
                content_type.objects.using(db).filter(app_label=from_app, model=model).update(
                    app_label=to_app
                )

        return run

    return migrations.RunPython(relabel(old_app, new_app), relabel(new_app, old_app))
