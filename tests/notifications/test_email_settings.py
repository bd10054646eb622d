"""EMAIL_PROVIDER picks the backend at start-up; a provider without its key stops start-up."""

from __future__ import annotations

import pytest

from tests.live import run_manage

PRINT_EMAIL = (
    "from django.conf import settings; "
    "print(settings.EMAIL_BACKEND, settings.DEFAULT_FROM_EMAIL, settings.SERVER_EMAIL, sep='|')"
)


@pytest.mark.parametrize(
    ("env", "backend"),
    [
        ({}, "django.core.mail.backends.console.EmailBackend"),
        (
            {"EMAIL_PROVIDER": "resend", "RESEND_API_KEY": "re_x"},
            "anymail.backends.resend.EmailBackend",
        ),
        (
            {"EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_KEY": "SG.x"},
            "anymail.backends.sendgrid.EmailBackend",
        ),
        (
            {"EMAIL_PROVIDER": "postmark", "POSTMARK_SERVER_TOKEN": "pm-x"},
            "anymail.backends.postmark.EmailBackend",
        ),
        (
            {"EMAIL_PROVIDER": "ses", "AWS_REGION": "eu-west-1"},
            "anymail.backends.amazon_ses.EmailBackend",
        ),
        (
            {"EMAIL_PROVIDER": "SMTP", "EMAIL_HOST": "smtp.example.com"},
            "django.core.mail.backends.smtp.EmailBackend",
        ),
    ],
)
@pytest.mark.standalone
def test_the_provider_selects_its_backend(env, backend):
    result = run_manage(
        {**env, "DEFAULT_FROM_EMAIL": "App <hello@example.com>"}, "shell", "-c", PRINT_EMAIL
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == (
        f"{backend}|App <hello@example.com>|App <hello@example.com>"
    )


@pytest.mark.standalone
def test_a_provider_without_its_key_is_listed_with_the_other_problems():
    for env, problem in (
        ({"EMAIL_PROVIDER": "resend"}, "EMAIL_PROVIDER=resend needs RESEND_API_KEY."),
        ({"EMAIL_PROVIDER": "postmark"}, "EMAIL_PROVIDER=postmark needs POSTMARK_SERVER_TOKEN."),
        ({"EMAIL_PROVIDER": "ses"}, "EMAIL_PROVIDER=ses needs AWS_SES_REGION (or AWS_REGION)."),
    ):
        result = run_manage({**env, "RATE_LIMIT_AI": "lots"}, "check")
        assert result.returncode != 0
        assert f"- {problem}" in result.stderr, result.stderr
        assert "- RATE_LIMIT_AI must look like" in result.stderr


@pytest.mark.standalone
def test_smtp_needs_a_host_and_an_unknown_provider_is_refused():
    result = run_manage({"EMAIL_PROVIDER": "smtp", "STAFF_REPORT_EMAILS": "ops"}, "check")
    assert result.returncode != 0
    assert "- EMAIL_PROVIDER=smtp needs EMAIL_HOST." in result.stderr
    assert "- STAFF_REPORT_EMAILS must list email addresses (got 'ops')." in result.stderr
    result = run_manage({"EMAIL_PROVIDER": "mailchimp"}, "check")
    assert "- EMAIL_PROVIDER must be one of console, smtp, resend, sendgrid, postmark, ses" in (
        result.stderr
    )
