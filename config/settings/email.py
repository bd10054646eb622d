"""Email settings (notifications app: the outbox and notifications/templates/emails): the provider
and its backend (SMTP or django-anymail), sender addresses, retries, report recipients, the
provider's delivery-status webhook and how long the outbox keeps its rows."""

from __future__ import annotations

from typing import Any

from config.settings.core import IS_PRODUCTION, env

# --- Email (notifications app: outbox, notifications/templates/emails) -----------------------
# Every email goes through the outbox (`notifications.services.email_send`): a row, then a Celery
# task that sends it through EMAIL_PROVIDER's backend (django-anymail for the API providers). SES
# uses boto3's usual credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or the instance's role).
EMAIL_PROVIDERS = {
    "console": "django.core.mail.backends.console.EmailBackend",
    "smtp": "django.core.mail.backends.smtp.EmailBackend",
    "resend": "anymail.backends.resend.EmailBackend",
    "sendgrid": "anymail.backends.sendgrid.EmailBackend",
    "postmark": "anymail.backends.postmark.EmailBackend",
    "ses": "anymail.backends.amazon_ses.EmailBackend",
}
EMAIL_PROVIDER = env.choice("EMAIL_PROVIDER", tuple(EMAIL_PROVIDERS), "console")
EMAIL_BACKEND = EMAIL_PROVIDERS[EMAIL_PROVIDER]
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", "Groundwork <noreply@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
EMAIL_PRODUCT_NAME = env.str("EMAIL_PRODUCT_NAME", "Groundwork")
EMAIL_HOST = env.str("EMAIL_HOST", "localhost")
EMAIL_PORT = env.int("EMAIL_PORT", 587, minimum=1)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD")
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", False)
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", not EMAIL_USE_SSL)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", 15, minimum=1)
# Sending attempts after the first, with exponential back-off and jitter; then the row is failed.
EMAIL_SEND_MAX_RETRIES = env.int("EMAIL_SEND_MAX_RETRIES", 5, minimum=0)
# Queued emails never attempted this long after they were written get their task sent again.
EMAIL_STALE_AFTER_MINUTES = env.int("EMAIL_STALE_AFTER_MINUTES", 15, minimum=1)
# The daily usage report's recipients; empty: every active staff user with an email.
STAFF_REPORT_EMAILS: list[str] = env.list("STAFF_REPORT_EMAILS")
# A user may request one data export per this many seconds.
EXPORT_MIN_INTERVAL_SECONDS = env.int("EXPORT_MIN_INTERVAL_SECONDS", 600, minimum=0)
# Days the link of a data export's email works (each click makes a fresh short download URL).
# At most 30: the link opens a copy of someone's personal data to whoever holds the email.
EXPORT_LINK_DAYS = env.int("EXPORT_LINK_DAYS", 7, minimum=1)
if EXPORT_LINK_DAYS > 30:
    env.problems.append(f"EXPORT_LINK_DAYS must be at most 30 (got {EXPORT_LINK_DAYS}).")
AWS_SES_REGION = env.str("AWS_SES_REGION", env.str("AWS_REGION", env.str("AWS_DEFAULT_REGION")))
ANYMAIL: dict[str, Any] = {
    "RESEND_API_KEY": env.str("RESEND_API_KEY"),
    "SENDGRID_API_KEY": env.str("SENDGRID_API_KEY"),
    "POSTMARK_SERVER_TOKEN": env.str("POSTMARK_SERVER_TOKEN"),
    "AMAZON_SES_CLIENT_PARAMS": {"region_name": AWS_SES_REGION} if AWS_SES_REGION else {},
    "REQUESTS_TIMEOUT": EMAIL_TIMEOUT,
}
# Delivery status: the provider's tracking webhook, POST /api/v1/public/webhooks/email (one URL,
# for EMAIL_PROVIDER), verified exactly as django-anymail verifies it. EMAIL_WEBHOOK_SECRET is
# anymail's WEBHOOK_SECRET: HTTP basic auth `user:password`, put in the webhook URL given to the
# provider (https://user:password@host/api/v1/public/webhooks/email); Postmark and SES (through
# SNS) have no other credential, so they need it. Resend signs its deliveries (Svix):
# RESEND_SIGNING_SECRET (`whsec_...`) from its webhook's page. SendGrid's signed event webhook:
# SENDGRID_WEBHOOK_VERIFICATION_KEY, the public key (base64) from its settings. With neither the
# secret nor the provider's own key the endpoint answers 503.
EMAIL_WEBHOOK_SECRET = env.str("EMAIL_WEBHOOK_SECRET")
RESEND_SIGNING_SECRET = env.str("RESEND_SIGNING_SECRET")
SENDGRID_WEBHOOK_VERIFICATION_KEY = env.str("SENDGRID_WEBHOOK_VERIFICATION_KEY")
# Anymail treats a present but empty setting as set: only the configured ones are passed on.
for _key, _value in (
    ("WEBHOOK_SECRET", EMAIL_WEBHOOK_SECRET),
    ("RESEND_SIGNING_SECRET", RESEND_SIGNING_SECRET),
    ("SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY", SENDGRID_WEBHOOK_VERIFICATION_KEY),
):
    if _value:
        ANYMAIL[_key] = _value
if EMAIL_WEBHOOK_SECRET and ":" not in EMAIL_WEBHOOK_SECRET:
    env.problems.append("EMAIL_WEBHOOK_SECRET must be `user:password` (HTTP basic auth).")
if RESEND_SIGNING_SECRET and not RESEND_SIGNING_SECRET.startswith("whsec_"):
    env.problems.append("RESEND_SIGNING_SECRET must be the webhook's signing secret, `whsec_...`.")
# Outbox retention (daily): rows older than EMAIL_RETENTION_DAYS are deleted when sent (whatever
# the provider reported, bounces excepted) or suppressed; failed ones, and sent ones that bounced,
# were complained about or rejected, after EMAIL_FAILED_RETENTION_DAYS. Queued rows are kept.
EMAIL_RETENTION_DAYS = env.int("EMAIL_RETENTION_DAYS", 90, minimum=1)
EMAIL_FAILED_RETENTION_DAYS = env.int("EMAIL_FAILED_RETENTION_DAYS", 365, minimum=1)
# Local fakes of the API providers (anymail's <ESP>_API_URL); never in production.
for _esp in ("RESEND", "SENDGRID", "POSTMARK"):
    if env.is_set(f"{_esp}_API_URL"):
        ANYMAIL[f"{_esp}_API_URL"] = env.str(f"{_esp}_API_URL")
        if IS_PRODUCTION:
            env.problems.append(f"{_esp}_API_URL is for local fakes; unset it in production.")
_email_required = {
    "resend": [("RESEND_API_KEY", ANYMAIL["RESEND_API_KEY"])],
    "sendgrid": [("SENDGRID_API_KEY", ANYMAIL["SENDGRID_API_KEY"])],
    "postmark": [("POSTMARK_SERVER_TOKEN", ANYMAIL["POSTMARK_SERVER_TOKEN"])],
    "ses": [("AWS_SES_REGION (or AWS_REGION)", AWS_SES_REGION)],
    "smtp": [("EMAIL_HOST", env.str("EMAIL_HOST"))],
}.get(EMAIL_PROVIDER, [])
for _name, _value in _email_required:
    if not _value:
        env.problems.append(f"EMAIL_PROVIDER={EMAIL_PROVIDER} needs {_name}.")
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    env.problems.append("EMAIL_USE_TLS and EMAIL_USE_SSL exclude each other: set one of them.")
if IS_PRODUCTION and EMAIL_PROVIDER != "console" and "@localhost" in DEFAULT_FROM_EMAIL:
    env.problems.append("DEFAULT_FROM_EMAIL must be an address of your domain in production.")
for _address in STAFF_REPORT_EMAILS:
    if "@" not in _address:
        env.problems.append(f"STAFF_REPORT_EMAILS must list email addresses (got {_address!r}).")
