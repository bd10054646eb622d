from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ConfigConfig(AppConfig):
    """The platform app: base models, errors, middleware, health, OpenAPI extensions, jobs and
    observability."""

    name = "config"
    verbose_name = "Platform"

    def ready(self) -> None:
        from django.core import checks

        from config import openapi  # noqa: F401  (registers the schema extensions)
        from config.beat import sync_periodic_tasks
        from config.middleware import check_page_middleware
        from config.observability import setup_observability

        checks.register(check_page_middleware)
        setup_observability()
        post_migrate.connect(sync_periodic_tasks, dispatch_uid="config.sync_periodic_tasks")
