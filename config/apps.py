from django.apps import AppConfig


class ConfigConfig(AppConfig):
    """The platform app: base models, errors, middleware, health, OpenAPI extensions."""

    name = "config"
    verbose_name = "Platform"

    def ready(self) -> None:
        from config import openapi  # noqa: F401  (registers the schema extensions)
