"""factory_boy factories for entitlements."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from billing.models import Entitlement
from tests.factories import UserFactory


class EntitlementFactory(factory.django.DjangoModelFactory):
    """An active Stripe pro subscription renewing in 30 days (the user's plan is not synced)."""

    class Meta:
        model = Entitlement

    user = factory.SubFactory(UserFactory)
    source = Entitlement.Source.STRIPE
    external_id = factory.Sequence(lambda n: f"sub_test{n}")
    product_id = "price_pro_monthly"
    plan = Entitlement.Plan.PRO
    status = Entitlement.Status.ACTIVE
    current_period_end = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))
