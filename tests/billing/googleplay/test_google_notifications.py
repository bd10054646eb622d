"""Play's notifications, end to end: push → ledger → purchase read from Play → entitlement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from billing.models import Entitlement
from tests.billing.googleplay import fake_google
from tests.billing.googleplay.conftest import LINK_URL, STATUS_URL, push
from webhooks.models import WebhookEvent
from webhooks.services import webhook_replay

# Committed for real, so the eager processing task runs within the request (as in production).
pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.now(UTC)


def notify(api, token, notification_type=2, **kwargs):
    notification = fake_google.subscription_notification(token, notification_type)
    return push(api, notification, **kwargs)


def entitlement(token):
    return Entitlement.objects.get(source="google", external_id=token)


@pytest.mark.parametrize(
    ("state", "auto_renew", "expected_status", "cancel_at_period_end", "plan", "has_access"),
    [
        ("SUBSCRIPTION_STATE_ACTIVE", True, "active", False, "pro", True),
        ("SUBSCRIPTION_STATE_IN_GRACE_PERIOD", True, "grace", False, "pro", True),
        ("SUBSCRIPTION_STATE_CANCELED", False, "active", True, "pro", True),
        ("SUBSCRIPTION_STATE_ON_HOLD", True, "expired", False, "free", False),
        ("SUBSCRIPTION_STATE_PAUSED", True, "expired", False, "free", False),
        ("SUBSCRIPTION_STATE_EXPIRED", False, "expired", True, "free", False),
    ],
)
def test_a_notification_stores_the_state_play_reports(
    api, user, google, state, auto_renew, expected_status, cancel_at_period_end, plan, has_access
):
    expiry = (NOW + timedelta(days=3)).replace(microsecond=0)
    token = google.add_subscription(
        state=state, auto_renew=auto_renew, expiry=expiry, account_id=user.pk
    )

    response = notify(api, token)

    assert response.status_code == 200
    assert response.json() == {"status": "processed"}
    stored = entitlement(token)
    assert stored.user == user
    assert stored.status == expected_status
    assert stored.cancel_at_period_end is cancel_at_period_end
    assert stored.current_period_end == expiry
    assert stored.product_id == "pro_monthly"
    status = api.as_user(user).get(STATUS_URL).json()
    assert status["plan"] == plan
    assert status["has_active_subscription"] is has_access
    if has_access:
        assert status["status"] == expected_status
        assert status["source"] == "google"
        assert status["cancel_at_period_end"] is cancel_at_period_end
    else:
        assert status["status"] == "none"


def test_a_lapse_and_recovery_follow_play(api, user, google):
    token = google.add_subscription(account_id=user.pk)
    assert notify(api, token, 4).json() == {"status": "processed"}  # SUBSCRIPTION_PURCHASED

    google.update(token, subscriptionState="SUBSCRIPTION_STATE_ON_HOLD")
    notify(api, token, 5)  # SUBSCRIPTION_ON_HOLD
    assert api.as_user(user).get(STATUS_URL).json()["plan"] == "free"

    google.update(token, subscriptionState="SUBSCRIPTION_STATE_ACTIVE")
    notify(api, token, 1)  # SUBSCRIPTION_RECOVERED
    assert api.as_user(user).get(STATUS_URL).json()["plan"] == "pro"
    assert Entitlement.objects.count() == 1


@pytest.mark.parametrize(
    ("code", "event_type"),
    [
        (2, "subscription.SUBSCRIPTION_RENEWED"),
        (13, "subscription.SUBSCRIPTION_EXPIRED"),
        (20, "subscription.SUBSCRIPTION_PENDING_PURCHASE_CANCELED"),
        (99, "subscription.UNKNOWN"),
    ],
)
def test_every_subscription_notification_reads_the_purchase(api, user, google, code, event_type):
    token = google.add_subscription(account_id=user.pk, product_id="team_yearly")

    response = notify(api, token, code, message_id=f"message-{code}")

    assert response.json() == {"status": "processed"}
    event = WebhookEvent.objects.get(provider="google", event_id=f"message-{code}")
    assert event.event_type == event_type
    assert len(google.purchase_reads) == 1
    assert entitlement(token).plan == "enterprise"


def test_the_plan_is_the_highest_of_the_line_items(api, user, google):
    later = NOW + timedelta(days=40)
    token = google.add_subscription(
        account_id=user.pk,
        line_items=[
            {
                "productId": "pro_monthly",
                "expiryTime": fake_google.rfc3339(NOW + timedelta(days=10)),
                "autoRenewingPlan": {"autoRenewEnabled": True},
            },
            {
                "productId": "team_yearly",
                "expiryTime": fake_google.rfc3339(later),
                "autoRenewingPlan": {"autoRenewEnabled": True},
            },
        ],
    )

    notify(api, token)

    stored = entitlement(token)
    assert (stored.plan, stored.product_id) == ("enterprise", "team_yearly")
    assert stored.current_period_end == later.replace(microsecond=later.microsecond // 1000 * 1000)


def test_an_unacknowledged_purchase_is_acknowledged(api, user, google):
    token = google.add_subscription(account_id=user.pk, acknowledged=False)

    notify(api, token, 4)

    [ack] = google.acknowledgements
    assert ack.path.endswith(f"/purchases/subscriptions/pro_monthly/tokens/{token}:acknowledge")
    assert ack.headers["authorization"].startswith("Bearer ya29.fake-")
    assert google.purchases[token]["acknowledgementState"] == "ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED"


def test_a_purchase_without_access_is_not_acknowledged(api, user, google):
    token = google.add_subscription(
        account_id=user.pk, acknowledged=False, state="SUBSCRIPTION_STATE_PENDING"
    )

    assert notify(api, token, 4).json() == {"status": "processed"}

    assert google.acknowledgements == []
    assert not Entitlement.objects.exists()


def test_a_replayed_message_is_a_duplicate_with_one_effect(api, user, google):
    token = google.add_subscription(account_id=user.pk, acknowledged=False)

    first = notify(api, token, message_id="pubsub-message-1")
    again = notify(api, token, message_id="pubsub-message-1")

    assert first.json() == {"status": "processed"}
    assert again.json() == {"status": "duplicate"}
    assert WebhookEvent.objects.filter(provider="google").count() == 1
    assert len(google.purchase_reads) == 1
    assert len(google.acknowledgements) == 1
    assert Entitlement.objects.count() == 1


def test_a_purchase_with_no_known_owner_changes_nothing_until_linked_and_replayed(
    api, user, google
):
    token = google.add_subscription(acknowledged=False)

    assert notify(api, token, 4, message_id="early").json() == {"status": "processed"}
    assert not Entitlement.objects.exists()
    assert google.acknowledgements == []

    google.update(token, subscriptionState="SUBSCRIPTION_STATE_CANCELED")
    api.as_user(user).post(LINK_URL, {"purchase_token": token, "subscription_id": "pro_monthly"})
    webhook_replay(events=WebhookEvent.objects.filter(event_id="early"))

    assert WebhookEvent.objects.get(event_id="early").status == WebhookEvent.Status.PROCESSED
    assert entitlement(token).user == user
    assert entitlement(token).cancel_at_period_end is True


def test_an_account_id_that_is_no_user_finds_no_owner(api, google):
    token = google.add_subscription(account_id="no-such-user")

    assert notify(api, token).json() == {"status": "processed"}

    assert not Entitlement.objects.exists()


def test_a_notification_for_a_linked_purchase_updates_its_owner(api, user, google):
    token = google.add_subscription()
    api.as_user(user).post(LINK_URL, {"purchase_token": token, "subscription_id": "pro_monthly"})
    google.update(token, subscriptionState="SUBSCRIPTION_STATE_EXPIRED")

    notify(api, token, 13)

    assert entitlement(token).status == "expired"
    user.refresh_from_db()
    assert (user.subscription_plan, user.subscription_status) == ("free", "none")


def test_a_replacing_purchase_supersedes_the_one_it_replaces(api, user, google):
    old = google.add_subscription(account_id=user.pk)
    notify(api, old, 4)
    google.update(old, subscriptionState="SUBSCRIPTION_STATE_CANCELED")
    new = google.add_subscription(product_id="team_yearly", linked_purchase_token=old)

    assert notify(api, new, 4).json() == {"status": "processed"}

    assert entitlement(new).user == user
    assert entitlement(new).plan == "enterprise"
    assert entitlement(old).status == "expired"
    status = api.as_user(user).get(STATUS_URL).json()
    assert (status["plan"], status["status"]) == ("enterprise", "active")


def test_a_token_play_does_not_know_ends_the_event_without_effect(api, user, google):
    assert notify(api, "unknown-token").json() == {"status": "processed"}

    assert len(google.purchase_reads) == 1
    assert not Entitlement.objects.exists()


def test_a_play_server_error_is_retried_until_it_succeeds(api, user, google):
    token = google.add_subscription(account_id=user.pk)
    google.fail(500, times=2)

    response = notify(api, token, message_id="retried")

    assert response.json() == {"status": "processed"}
    event = WebhookEvent.objects.get(event_id="retried")
    assert (event.status, event.attempts) == (WebhookEvent.Status.PROCESSED, 3)
    assert "ExternalServiceError" in event.last_error
    assert len(google.purchase_reads) == 3
    assert entitlement(token).status == "active"


def test_a_play_outage_leaves_the_event_failed_and_replayable(api, user, google, settings):
    settings.WEBHOOK_MAX_RETRIES = 1
    token = google.add_subscription(account_id=user.pk)
    google.fail(503, times=2)

    assert notify(api, token, message_id="outage").json() == {"status": "queued"}
    event = WebhookEvent.objects.get(event_id="outage")
    assert (event.status, event.attempts) == (WebhookEvent.Status.FAILED, 2)
    assert not Entitlement.objects.exists()

    webhook_replay(events=WebhookEvent.objects.filter(event_id="outage"))

    assert WebhookEvent.objects.get(event_id="outage").status == WebhookEvent.Status.PROCESSED
    assert entitlement(token).status == "active"


def test_a_failed_acknowledgement_undoes_the_change_and_is_retried(api, user, google):
    token = google.add_subscription(account_id=user.pk, acknowledged=False)
    google.fail(
        500, path_prefix=fake_google.API_PREFIX + f"{fake_google.PACKAGE}/purchases/subscriptions/"
    )

    assert notify(api, token, 4, message_id="ack").json() == {"status": "processed"}

    assert WebhookEvent.objects.get(event_id="ack").attempts == 2
    assert len(google.acknowledgements) == 2
    assert entitlement(token).status == "active"


@pytest.mark.parametrize(("product_type", "reads"), [(1, 1), (2, 0)])
def test_a_voided_subscription_is_read_back(api, user, google, product_type, reads):
    token = google.add_subscription(account_id=user.pk)
    notify(api, token, 4)
    google.update(token, subscriptionState="SUBSCRIPTION_STATE_EXPIRED")
    notification = {
        "version": "1.0",
        "packageName": fake_google.PACKAGE,
        "eventTimeMillis": "1700000000000",
        "voidedPurchaseNotification": {
            "purchaseToken": token,
            "orderId": "GPA.1234-5678-9012-34567",
            "productType": product_type,
            "refundType": 1,
        },
    }

    assert push(api, notification).json() == {"status": "processed"}

    assert len(google.purchase_reads) == 1 + reads
    assert entitlement(token).status == ("expired" if reads else "active")


def test_an_older_read_does_not_overwrite_a_newer_one(api, user, google):
    token = google.add_subscription(account_id=user.pk)
    notify(api, token)
    stored = entitlement(token)
    newer = stored.source_updated_at + timedelta(minutes=5)
    Entitlement.objects.filter(pk=stored.pk).update(source_updated_at=newer, status="grace")
    google.update(token, subscriptionState="SUBSCRIPTION_STATE_EXPIRED")

    notify(api, token, 13)  # read now, which is earlier than the stored read

    assert entitlement(token).status == "grace"
