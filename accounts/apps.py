from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import identity_events, identity_webhooks, personal_data

        identity_events.register_handlers()
        identity_webhooks.register_payloads()
        personal_data.register(
            "identity_webhooks",
            erase=lambda user_id: identity_webhooks.identity_events_scrub(user_id=user_id),
        )
