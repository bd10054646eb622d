from django.apps import AppConfig


class AiConfig(AppConfig):
    name = "ai"
    verbose_name = "AI"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ai.providers.registry import import_configured_sdks
        from config.signals import before_workers_fork

        before_workers_fork.connect(import_configured_sdks, dispatch_uid="ai-import-sdks")
