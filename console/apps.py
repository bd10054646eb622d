from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Staff console"
    default_auto_field = "django.db.models.BigAutoField"


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the staff console's site as `admin.site`."""

    # Named in INSTALLED_APPS in place of django.contrib.admin; `console` keeps ConsoleConfig.
    default = False
    default_site = "console.sites.ConsoleAdminSite"
