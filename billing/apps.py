from dataclasses import asdict

from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core.checks.registry import registry
        from djstripe import checks as djstripe_checks

        from accounts import personal_data
        from billing.appstore import events as appstore_events
        from billing.googleplay import events as googleplay_events
        from billing.selectors import billing_status, plan_limits
        from billing.stripe import client as stripe_client
        from billing.stripe import events as stripe_events
        from usage import metrics as usage_metrics

        stripe_client.apply_settings()
        stripe_events.register_handlers()
        appstore_events.register_handlers()
        googleplay_events.register_handlers()
        personal_data.register("billing", export=lambda user: asdict(billing_status(user=user)))
        # Erasure scrubs the webhook ledger's events about the user's customers and purchases.
        personal_data.register(
            "billing_webhooks",
            erase=lambda user_id: [
                source.events_scrub_for_user(user_id=user_id)
                for source in (stripe_events, appstore_events, googleplay_events)
            ],
        )
        usage_metrics.register_limits(read=lambda user: plan_limits(user=user))
        # dj-stripe's webhook checks inspect its WebhookEndpoint rows, which are not used here
        # (its webhook view is not mounted; the signing secret is STRIPE_WEBHOOK_SECRET). They
        # query the database on every manage.py command and wait out the connection timeouts
        # where there is none (a `check --deploy` in CI), so they are left out.
        for check in (
            djstripe_checks.check_webhook_validation,
            djstripe_checks.check_webhook_endpoint_has_secret,
        ):
            registry.registered_checks.discard(check)
