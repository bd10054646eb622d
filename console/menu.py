"""The admin's menu grouped by what staff do, not by the app that holds a model.

`RULES` is the one table: each model goes to the section of the first rule that matches its app
label and object name (`*`: any model of the app), in the rule's order within the section. A
model no rule names lands in "Other", so nothing registered ever disappears from the menu. The
Stripe mirror (dj-stripe's tables, about forty) comes last as one link to its own app page.

Sections keep the shape of Django's app entries (`name`, `app_label`, `app_url`, `models`), so
the admin's own templates (the index, the sidebar) render them unchanged; an app's own page
(`/admin/<app>/`) still lists that app's models as usual.
"""

from __future__ import annotations

from typing import Any

CUSTOMERS = "Customers"
BILLING = "Billing"
OPERATIONS = "Operations"
AI = "AI"
FLAGS = "Feature flags"
STAFF_ACCESS = "Staff access"
OTHER = "Other"
STRIPE_MIRROR = "Stripe mirror"

# Menu order; the Stripe mirror is last and collapsed (see `STRIPE_APP_LABEL`).
SECTIONS = (CUSTOMERS, BILLING, OPERATIONS, AI, FLAGS, STAFF_ACCESS, OTHER, STRIPE_MIRROR)

# (app label, object name or "*", section), first match wins; the order here is the order of the
# models within a section.
RULES: tuple[tuple[str, str, str], ...] = (
    ("accounts", "User", CUSTOMERS),
    ("projects", "*", CUSTOMERS),
    ("files", "*", CUSTOMERS),
    ("accounts", "DataExport", CUSTOMERS),
    ("usage", "*", CUSTOMERS),
    ("accounts", "Impersonation", STAFF_ACCESS),
    ("accounts", "*", CUSTOMERS),
    ("billing", "*", BILLING),
    ("webhooks", "*", OPERATIONS),
    ("notifications", "*", OPERATIONS),
    ("django_celery_results", "TaskResult", OPERATIONS),
    ("django_celery_beat", "PeriodicTask", OPERATIONS),
    ("django_celery_results", "*", OPERATIONS),
    ("django_celery_beat", "*", OPERATIONS),
    ("ai", "AIUsage", AI),
    ("ai", "*", AI),
    ("flags", "*", FLAGS),
    # Who the staff are and what they did: groups, impersonation sessions, the audit log, and
    # the password form's sign-in attempts.
    ("auth", "Group", STAFF_ACCESS),
    ("audit", "*", STAFF_ACCESS),
    ("axes", "*", STAFF_ACCESS),
    ("djstripe", "*", STRIPE_MIRROR),
)

STRIPE_APP_LABEL = "djstripe"


def _slug(section: str) -> str:
    return section.lower().replace(" ", "-")


def section_of(app_label: str, object_name: str) -> tuple[str, int]:
    """The section of a model and its rank there (its rule's position): ("Other", len(RULES))
    when no rule names it."""
    for rank, (label, name, section) in enumerate(RULES):
        if label == app_label and name in ("*", object_name):
            return section, rank
    return OTHER, len(RULES)


def _stripe_mirror(app: dict[str, Any]) -> dict[str, Any]:
    """dj-stripe's app entry folded into one row linking to its own page."""
    count = len(app["models"])
    return {
        "name": f"All Stripe tables ({count})",
        "object_name": "StripeMirror",
        "admin_url": app["app_url"],
        "add_url": None,
        "view_only": True,
        "perms": {"view": True},
    }


def grouped_app_list(app_list: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Django's per-app list regrouped into `SECTIONS`, empty sections left out.

    A section's link is its only app's page when it holds a single app (the Stripe mirror: the
    dj-stripe tables' page), else an anchor on the index.
    """
    ranked: dict[str, list[tuple[int, str, dict[str, Any]]]] = {name: [] for name in SECTIONS}
    apps_in: dict[str, list[dict[str, Any]]] = {name: [] for name in SECTIONS}
    for app in app_list:
        if app["app_label"] == STRIPE_APP_LABEL:
            ranked[STRIPE_MIRROR].append((0, "", _stripe_mirror(app)))
            apps_in[STRIPE_MIRROR].append(app)
            continue
        for model in app["models"]:
            section, rank = section_of(app["app_label"], model["object_name"])
            ranked[section].append((rank, str(model["name"]), model))
            if app not in apps_in[section]:
                apps_in[section].append(app)
    sections = []
    for name in SECTIONS:
        if not ranked[name]:
            continue
        apps = apps_in[name]
        sections.append(
            {
                "name": name,
                "app_label": _slug(name),
                "app_url": apps[0]["app_url"] if len(apps) == 1 else f"#menu-{_slug(name)}",
                "has_module_perms": True,
                "models": [model for _, _, model in sorted(ranked[name], key=lambda r: r[:2])],
            }
        )
    return sections
