"""Reads of Stripe billing as dj-stripe mirrors it: the user's customer, subscription and
invoices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import F
from djstripe.models import Customer, Invoice

from accounts.models import User
from billing.models import Entitlement
from billing.selectors import PLAN_RANK, entitled_q


@dataclass(frozen=True)
class InvoiceSummary:
    """One Stripe invoice as GET /billing/invoices shows it."""

    id: str
    number: str | None
    status: str | None
    amount_due: int
    amount_paid: int
    currency: str
    created: datetime | None
    hosted_invoice_url: str | None
    invoice_pdf: str | None


def stripe_entitlement_current(*, user: User) -> Entitlement | None:
    """The user's Stripe subscription that grants access now (the best one), or None."""
    return (
        Entitlement.objects.filter(entitled_q(), user=user, source=Entitlement.Source.STRIPE)
        .annotate(plan_rank=PLAN_RANK)
        .order_by("-plan_rank", F("current_period_end").desc(nulls_first=True), "-created_at")
        .first()
    )


def stripe_customer_get(*, user: User) -> Customer | None:
    """The user's Stripe customer in the configured mode (test or live), newest first."""
    return (
        Customer.objects.filter(
            subscriber=user, livemode=settings.STRIPE_LIVE_MODE, date_purged__isnull=True
        )
        .order_by("-created", "-djstripe_id")
        .first()
    )


def invoice_list(*, user: User, limit: int) -> list[InvoiceSummary]:
    """The user's Stripe invoices as last synced, newest first; one query, no Stripe call."""
    invoices = (
        Invoice.objects.filter(customer__subscriber=user)
        .order_by("-created", "-djstripe_id")
        .only("id", "created", "stripe_data")[:limit]
    )
    return [
        InvoiceSummary(
            id=invoice.id,
            number=invoice.stripe_data.get("number"),
            status=invoice.stripe_data.get("status"),
            amount_due=int(invoice.stripe_data.get("amount_due") or 0),
            amount_paid=int(invoice.stripe_data.get("amount_paid") or 0),
            currency=str(invoice.stripe_data.get("currency") or ""),
            created=invoice.created,
            hosted_invoice_url=invoice.stripe_data.get("hosted_invoice_url"),
            invoice_pdf=invoice.stripe_data.get("invoice_pdf"),
        )
        for invoice in invoices
    ]
