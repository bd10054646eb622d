"""What the app stores' purchases share: the plan a store product grants."""

from __future__ import annotations

from django.conf import settings

from billing.models import Entitlement


def plan_for_product(product_id: str) -> str:
    """The plan a store product id grants: IAP_PRODUCT_PLANS, else by its name.

    An unlisted product is `enterprise` when its id contains "enterprise", else `pro`.
    """
    listed = settings.IAP_PRODUCT_PLANS.get(product_id)
    if listed:
        return str(listed)
    if "enterprise" in product_id.lower():
        return Entitlement.Plan.ENTERPRISE.value
    return Entitlement.Plan.PRO.value
