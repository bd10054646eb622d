"""The admin's menu grouped by what staff do, with the Stripe mirror folded away at the end."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.test import RequestFactory

from accounts.models import User
from console.menu import grouped_app_list

pytestmark = pytest.mark.django_db


def sections(response: Any) -> list[dict[str, Any]]:
    return list(response.context["app_list"])


def model_names(section: dict[str, Any]) -> list[str]:
    return [str(model["name"]) for model in section["models"]]


def test_the_index_groups_models_into_sections_with_the_stripe_mirror_last(client, staff):
    response = client.get("/admin/")

    grouped = {section["name"]: section for section in sections(response)}
    names = [section["name"] for section in sections(response)]
    assert names[:4] == ["Customers", "Billing", "Operations", "AI"]
    assert names[-1] == "Stripe mirror"
    assert model_names(grouped["Customers"])[:3] == ["Users", "Projects", "Files"]
    assert {"Data exports", "Usage counters"} <= set(model_names(grouped["Customers"]))
    assert model_names(grouped["Billing"]) == ["Entitlements"]
    assert model_names(grouped["Operations"])[:5] == [
        "Webhook events",
        "Email messages",
        "Email suppressions",
        "Task results",
        "Periodic tasks",
    ]
    assert model_names(grouped["Staff access"])[:3] == ["Impersonations", "Groups", "Audit events"]
    assert {"Access attempts", "Access failures"} <= set(model_names(grouped["Staff access"]))
    assert model_names(grouped["AI"]) == ["AI usage", "AI usage by user"]
    # About forty dj-stripe tables, folded into one link to their own page.
    mirror = grouped["Stripe mirror"]
    assert len(mirror["models"]) == 1
    assert mirror["models"][0]["admin_url"] == "/admin/djstripe/"
    assert re.fullmatch(r"All Stripe tables \(\d{2}\)", mirror["models"][0]["name"])
    html = response.content.decode()
    assert set(re.findall(r'href="(/admin/djstripe/[^"]*)"', html)) == {"/admin/djstripe/"}


def test_every_registered_model_is_in_the_menu_once(client, staff):
    request = RequestFactory().get("/admin/")
    request.user = staff
    flat = admin.site._build_app_dict(request)  # Django's own per-app list, ungrouped
    expected = sorted(
        model["admin_url"]
        for app in flat.values()
        if app["app_label"] != "djstripe"
        for model in app["models"]
    )

    listed = sorted(
        model["admin_url"]
        for section in sections(client.get("/admin/"))
        if section["name"] != "Stripe mirror"
        for model in section["models"]
    )

    assert listed == expected


def test_the_stripe_tables_stay_on_their_own_page(client, staff):
    response = client.get("/admin/djstripe/")
    assert response.status_code == 200
    (app,) = response.context["app_list"]
    assert app["app_label"] == "djstripe" and len(app["models"]) > 30
    assert "/admin/djstripe/customer/" in response.content.decode()


def test_the_sidebar_of_a_list_shows_the_sections(client, staff):
    html = client.get("/admin/webhooks/webhookevent/").content.decode()
    sidebar = html[html.index('id="nav-sidebar"') :]
    assert "Operations" in sidebar and "Stripe mirror" in sidebar
    assert "/admin/djstripe/customer/" not in sidebar
    # The page's own model is marked current in its section.
    assert re.search(r'class="model-webhookevent current-model"', sidebar)


def test_unknown_apps_land_in_other_and_flags_in_their_own_section():
    def app(label: str, *objects: str) -> dict[str, Any]:
        return {
            "name": label.title(),
            "app_label": label,
            "app_url": f"/admin/{label}/",
            "has_module_perms": True,
            "models": [
                {"name": name, "object_name": name, "admin_url": f"/admin/{label}/{name.lower()}/"}
                for name in objects
            ],
        }

    grouped = grouped_app_list(
        [
            app("djstripe", "Customer", "Invoice"),
            app("inventory", "Widget"),
            app("flags", "Flag"),
            app("billing", "Entitlement"),
            app("accounts", "User", "Somethingnew"),
        ]
    )

    assert [section["name"] for section in grouped] == [
        "Customers",
        "Billing",
        "Feature flags",
        "Other",
        "Stripe mirror",
    ]
    assert model_names(grouped[0]) == ["User", "Somethingnew"]
    assert grouped[3]["models"][0]["admin_url"] == "/admin/inventory/widget/"
    # A section made of one app links to that app's page.
    assert grouped[2]["app_url"] == "/admin/flags/"
    assert grouped[4]["models"][0]["name"] == "All Stripe tables (2)"


def test_staff_with_few_permissions_see_only_their_models(client):
    clerk = User.objects.create_user("clerk@example.com", "a-long-staff-password-1", is_staff=True)
    clerk.user_permissions.add(
        Permission.objects.get(codename="view_webhookevent", content_type__app_label="webhooks"),
        Permission.objects.get(
            codename="view_emailmessage", content_type__app_label="notifications"
        ),
    )
    client.force_login(clerk)

    response = client.get("/admin/")

    (operations,) = sections(response)
    assert operations["name"] == "Operations"
    assert model_names(operations) == ["Webhook events", "Email messages"]
    assert "Stripe mirror" not in response.content.decode()
    assert client.get("/admin/djstripe/").status_code in (403, 404)
