"""The ledger's Google Play events of an erased user: raw bodies still held are emptied.

Not transactional: the processing task (sent on commit) does not run, so the events stay
waiting, as they do while a worker is busy or the broker is down, and hold their raw body.
"""

from __future__ import annotations

import pytest

from billing.models import Entitlement
from tests.billing.googleplay import fake_google
from tests.billing.googleplay.conftest import push
from webhooks.models import WebhookEvent

pytestmark = pytest.mark.django_db


def test_erasing_a_user_empties_the_raw_bodies_of_their_purchases_events(
    api, google, user, django_capture_on_commit_callbacks
):
    token = google.add_subscription(account_id=user.pk)
    Entitlement.objects.create(
        user=user, source="google", external_id=token, product_id="pro_monthly", plan="pro"
    )
    other = google.add_subscription(account_id="someone-else")
    assert push(api, fake_google.subscription_notification(token)).status_code == 200
    assert push(api, fake_google.subscription_notification(other)).status_code == 200
    mine = WebhookEvent.objects.get(subject=token)
    assert mine.status == WebhookEvent.Status.RECEIVED and mine.raw_body

    with django_capture_on_commit_callbacks(execute=True):
        assert api.as_user(user).delete("/api/v1/app/users/me").status_code == 204

    mine.refresh_from_db()
    assert mine.raw_body == ""
    assert mine.payload["notification"]["subscriptionNotification"]["purchaseToken"] == token
    assert WebhookEvent.objects.get(subject=other).raw_body  # not theirs to erase
