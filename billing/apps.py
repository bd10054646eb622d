from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.checks.registry import registry
        from djstripe import checks as djstripe_checks

        from billing import apple_events, google_events, stripe_events, stripe_gateway

        stripe_gateway.apply_settings()
        stripe_events.register_handlers()
        apple_events.register_handlers()
        google_events.register_handlers()
        # dj-stripe's webhook checks inspect its WebhookEndpoint rows, which are not used here
        # (its webhook view is not mounted; the signing secret is STRIPE_WEBHOOK_SECRET). They
        # query the database on every manage.py command and wait out the connection timeouts
        # where there is none (a `check --deploy` in CI), so they are left out.
        for check in (
            djstripe_checks.check_webhook_validation,
            djstripe_checks.check_webhook_endpoint_has_secret,
        ):
            registry.registered_checks.discard(check)
