"""`billing.updated` (API.md §9): whatever changes a user's entitlements (a payment source's
webhook, staff in the admin, the system's expiry), their sockets get their billing status exactly
as GET /billing/status renders it from then on; nobody else's do."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from asgiref.sync import sync_to_async
from django.utils import timezone

from billing.models import Entitlement
from billing.tasks import expire_lapsed_entitlements
from tests.billing.conftest import MONTHLY, deliver, stripe_fake  # noqa: F401 - a fixture
from tests.billing.factories import EntitlementFactory
from tests.billing.test_billing_admin import user_form
from tests.realtime.conftest import connected, run, socket
from tests.realtime.test_events import committed, event, events, nothing_more

STATUS_URL = "/api/v1/app/billing/status"


def status_of(api: Any, user: Any) -> dict[str, Any]:
    response = api.as_user(user).get(STATUS_URL)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_a_stripe_subscription_announces_the_new_status(
    api,
    client,
    user,
    other_user,
    stripe_fake,  # noqa: F811 - the fixture imported above
):
    customer = stripe_fake.add_customer(user_id=user.pk, email=user.email)
    sub = stripe_fake.add_subscription(customer=customer["id"], price=MONTHLY)
    webhook = stripe_fake.event("customer.subscription.created", sub)

    async def scenario() -> None:
        mine, theirs = socket(user=user), socket(user=other_user)
        await connected(mine)
        await connected(theirs)

        response = await committed(lambda: deliver(client, webhook))

        assert response.status_code == 200, response.content
        [frame] = await events(mine, 1)
        status = await sync_to_async(status_of)(api, user)
        assert status["plan"] == "pro" and status["source"] == "stripe"
        assert frame == event("billing.updated", f"user:{user.pk}", status)
        await nothing_more(mine, theirs)
        await mine.disconnect()
        await theirs.disconnect()

    run(scenario)


def test_a_plan_granted_by_staff_in_the_admin_is_announced(api, client, staff, user):
    until = timezone.now() + timedelta(days=60)
    row = {
        "user": user.pk,
        "plan": "enterprise",
        "status": "active",
        "current_period_end_0": until.strftime("%Y-%m-%d"),
        "current_period_end_1": "12:00:00",
        "note": "Pilot customer",
    }

    async def scenario() -> None:
        sock = socket(user=user)
        await connected(sock)

        response = await committed(
            lambda: client.post(
                f"/admin/accounts/user/{user.pk}/change/", user_form(user, rows=[row])
            )
        )

        assert response.status_code == 302
        status = await sync_to_async(status_of)(api, user)
        assert (status["plan"], status["source"]) == ("enterprise", "manual")
        assert await events(sock, 1) == [event("billing.updated", f"user:{user.pk}", status)]
        await nothing_more(sock)
        await sock.disconnect()

    run(scenario)


def test_an_expiry_announces_one_status_however_many_entitlements_ended(api, user, other_user):
    ended = timezone.now() - timedelta(days=3)
    EntitlementFactory(user=user, current_period_end=ended)
    EntitlementFactory(
        user=user, source=Entitlement.Source.MANUAL, plan="enterprise", current_period_end=ended
    )
    EntitlementFactory(user=other_user)  # renewing: unchanged, not announced

    async def scenario() -> None:
        mine, theirs = socket(user=user), socket(user=other_user)
        await connected(mine)
        await connected(theirs)

        expired = await committed(lambda: expire_lapsed_entitlements.delay().get())

        assert expired == 2
        status = await sync_to_async(status_of)(api, user)
        assert (status["plan"], status["status"]) == ("free", "none")
        assert await events(mine, 1) == [event("billing.updated", f"user:{user.pk}", status)]
        await nothing_more(mine, theirs)
        await mine.disconnect()
        await theirs.disconnect()

    run(scenario)


def test_a_redelivered_webhook_changing_nothing_announces_nothing(
    client,
    user,
    stripe_fake,  # noqa: F811 - the fixture imported above
):
    customer = stripe_fake.add_customer(user_id=user.pk, email=user.email)
    sub = stripe_fake.add_subscription(customer=customer["id"], price=MONTHLY)

    async def scenario() -> None:
        sock = socket(user=user)
        await connected(sock)
        first = stripe_fake.event("customer.subscription.created", sub)
        assert (await committed(lambda: deliver(client, first))).status_code == 200
        assert [frame["event"] for frame in await events(sock, 1)] == ["billing.updated"]

        # A new event about the same, unchanged subscription (Stripe's current state is re-read).
        again = stripe_fake.event("customer.subscription.updated", sub)
        assert (await committed(lambda: deliver(client, again))).status_code == 200

        await nothing_more(sock)
        await sock.disconnect()

    run(scenario)
