"""The real-time `billing.updated` event (API.md §9): the user's billing status, exactly as
GET /api/v1/app/billing/status renders it, on their `user:<id>` channel.

Every write to an entitlement, whatever its source (Stripe, the App Store, Google Play, staff in
the admin, the system's expiry), is recorded by `billing.services._entitlement_audit`, which
calls `billing_updated_on_commit`: no source can change a plan without its users' clients
hearing of it. The status is read once the transaction has committed, so it is the one the API
answers from then on. (Not to be confused with `<source>/events.py`: the payment sources' webhook
events.)
"""

from __future__ import annotations

import weakref

from django.db import transaction

from accounts.models import User
from billing.selectors import billing_status
from billing.serializers import BillingStatusOutput
from realtime import publish
from realtime.channels import user_channel

EVENT = "billing.updated"


def publish_billing_updated(*, user_id: str) -> None:
    """Send the user's billing status as it is now to their sockets (none for a gone user)."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    data = BillingStatusOutput(billing_status(user=user)).data
    publish(channel=user_channel(user_id), event=EVENT, data=data)


class _Announcement:
    """One `billing.updated` waiting for a commit."""

    def __init__(self, user_id: str) -> None:
        self.user_id = user_id
        self.sent = False

    def __call__(self) -> None:
        self.sent = True
        publish_billing_updated(user_id=self.user_id)


# The announcement waiting on each connection for each user, so that several entitlements of one
# user changed in one transaction (an expiry, the admin) make one event. An entry lives only as
# long as the commit callback holding it: a rollback drops both.
_waiting: weakref.WeakValueDictionary[tuple[int, str], _Announcement] = (
    weakref.WeakValueDictionary()
)


def billing_updated_on_commit(*, user_id: str) -> None:
    """Publish `billing.updated` for the user once the current transaction commits (once per
    transaction, however many of their entitlements it changes).

    `robust`: whatever goes wrong while announcing it, the write it announces stands.
    """
    key = (id(transaction.get_connection()), str(user_id))
    waiting = _waiting.get(key)
    if waiting is not None and not waiting.sent:
        return
    announcement = _waiting[key] = _Announcement(str(user_id))
    transaction.on_commit(announcement, robust=True)
