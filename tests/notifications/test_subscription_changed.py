"""A change of plan or status emails the user once the change commits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from billing.models import Entitlement
from billing.services import entitlement_grant_manual, user_sync_subscription
from notifications.models import EmailMessage
from tests.billing.factories import EntitlementFactory
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_an_entitlement_change_emails_the_user(staff, django_capture_on_commit_callbacks):
    user = UserFactory(full_name="Eve")
    with django_capture_on_commit_callbacks(execute=True):
        entitlement_grant_manual(user=user, plan="enterprise", granted_by=staff)

    [sent] = mail.outbox
    assert sent.to == [user.email]
    assert sent.subject == "Your Groundwork plan is now Enterprise"
    text, (html, _) = sent.body, sent.alternatives[0]
    assert "Plan: Enterprise (was free)" in text
    assert "Status: active (was none)" in text
    assert "<strong>Enterprise</strong>" in html
    row = EmailMessage.objects.get(template="subscription_changed")
    assert (row.user_id, row.status) == (user.pk, EmailMessage.Status.SENT)
    assert row.context["previous_plan"] == "free" and row.context["plan"] == "enterprise"


def test_no_email_when_nothing_changed_or_the_user_has_no_address(
    django_capture_on_commit_callbacks,
):
    user = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        user_sync_subscription(user=user)  # free/none stays free/none
    nameless = UserFactory(email="")
    EntitlementFactory(user=nameless)
    with django_capture_on_commit_callbacks(execute=True):
        user_sync_subscription(user=nameless)
    nameless.refresh_from_db()
    assert nameless.subscription_plan == "pro"
    assert mail.outbox == [] and EmailMessage.objects.count() == 0


def test_a_status_change_alone_is_emailed(django_capture_on_commit_callbacks):
    user = UserFactory()
    entitlement = EntitlementFactory(user=user)
    with django_capture_on_commit_callbacks(execute=True):
        user_sync_subscription(user=user)
    entitlement.status = Entitlement.Status.PAST_DUE
    entitlement.current_period_end = timezone.now() + timedelta(days=3)
    entitlement.save()
    with django_capture_on_commit_callbacks(execute=True):
        user_sync_subscription(user=user)
    with django_capture_on_commit_callbacks(execute=True):
        user_sync_subscription(user=user)  # unchanged: no third email
    assert [message.subject for message in mail.outbox] == [
        "Your Groundwork plan is now Pro",
        "Your Groundwork plan is now Pro",
    ]
    assert "Status: past_due (was active)" in mail.outbox[1].body


def test_nothing_is_sent_when_the_change_rolls_back(django_capture_on_commit_callbacks):
    from django.db import transaction

    user = UserFactory()
    EntitlementFactory(user=user)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                user_sync_subscription(user=user)
                raise RuntimeError("the caller fails after the sync")
        except RuntimeError:
            pass
    assert callbacks == [] and mail.outbox == []
    assert EmailMessage.objects.count() == 0
