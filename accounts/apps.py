from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import identity_events, identity_webhooks, personal_data
        from accounts.authentication import socket_user_from_id, socket_user_from_token
        from realtime import identity as realtime_identity

        identity_events.register_handlers()
        realtime_identity.register(
            user_from_token=socket_user_from_token, user_from_id=socket_user_from_id
        )
        identity_webhooks.register_payloads()
        personal_data.register(
            "identity_webhooks",
            erase=lambda user_id: identity_webhooks.identity_events_scrub(user_id=user_id),
        )
