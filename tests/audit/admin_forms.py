"""Admin forms posted back as a browser would."""

from __future__ import annotations

from typing import Any

from django.forms import MultiWidget


def form_data(page: Any) -> dict[str, Any]:
    """The change form of an admin page as a browser would post it back, inlines included."""
    data: dict[str, Any] = {}
    forms = [page.context["adminform"].form]
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data.update(
            {management.add_prefix(name): value for name, value in management.initial.items()}
        )
        forms.extend(formset.forms)
    for form in forms:
        for name, field in form.fields.items():
            if field.disabled:
                continue
            key, value = form.add_prefix(name), form[name].value()
            if isinstance(field.widget, MultiWidget):
                parts = field.widget.decompress(value) or []
                data.update(
                    {f"{key}_{i}": "" if p is None else str(p) for i, p in enumerate(parts)}
                )
            elif isinstance(value, bool):
                if value:
                    data[key] = "on"
            elif isinstance(value, list | tuple):
                data[key] = [str(item) for item in value]
            elif value is not None:
                data[key] = value
    return data
