"""A local fake of the parts of Stripe's API that billing and dj-stripe's sync call.

A `tests.fakes.FakeServer` (the SDK talks to it through `STRIPE_API_BASE`), keeping objects
in memory in Stripe's JSON shapes (API version 2026-08-26.dahlia: periods on subscription
items). It records every request (method, path, query, headers, form) for assertions, honours
`Idempotency-Key` on POSTs as Stripe does (same key and body: the first answer again; same key,
other body: 400 `idempotency_error`), and can be told to fail or to answer slowly.

Endpoints: GET /v1/account; customers (GET, POST); subscriptions (GET, POST update, DELETE);
prices and products (GET; GET /v1/products/{id}/features); invoices (GET); events (GET list,
newest first, `created[gte]`, `starting_after`); POST /v1/checkout/sessions; POST
/v1/billing_portal/sessions.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from tests.fakes import Answer, Failures, FakeServer, Request

API_VERSION = "2026-08-26.dahlia"
ACCOUNT_ID = "acct_1FakeGroundwork"
SECRET_KEY = "sk_test_" + "FakeStripeKey0123456789abcdef"
WEBHOOK_SECRET = "whsec_fake_groundwork_signing_secret"
MONTH = 30 * 86_400


def sign(body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe sends for `body` (HMAC-SHA256 of "t.body")."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


@dataclass
class FakeStripe(FakeServer):
    """The fake's state; `url` is its base URL once started (`FakeStripe.running()`)."""

    objects: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    failures: Failures = field(default_factory=Failures)
    idempotent: dict[str, tuple[str, int, dict[str, Any]]] = field(default_factory=dict)

    protocol_version: ClassVar[str] = "HTTP/1.1"
    response_headers: ClassVar[dict[str, str]] = {"Request-Id": "req_fake"}

    def __post_init__(self) -> None:
        super().__post_init__()
        self._ids = itertools.count(1)

    # --- state helpers ---------------------------------------------------------------------

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_fake{next(self._ids):06d}"

    def put(self, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.objects.setdefault(kind, {})[obj["id"]] = obj
        return obj

    def get(self, kind: str, object_id: str) -> dict[str, Any] | None:
        with self.lock:
            return self.objects.get(kind, {}).get(object_id)

    def fail(self, status: int = 500, *, times: int = 1, error_type: str = "api_error") -> None:
        """Answer the next `times` requests with this error."""
        self.failures.add(status, times=times, error_type=error_type)

    # --- builders in Stripe's shapes -------------------------------------------------------

    def add_product(
        self, product_id: str, *, name: str = "Pro", metadata: dict[str, str] | None = None
    ) -> dict[str, Any]:
        return self.put(
            "products",
            {
                "id": product_id,
                "object": "product",
                "active": True,
                "name": name,
                "description": None,
                "images": [],
                "marketing_features": [],
                "metadata": metadata or {},
                "created": int(time.time()) - 86_400,
                "updated": int(time.time()) - 86_400,
                "livemode": False,
                "type": "service",
                "default_price": None,
                "tax_code": None,
                "url": None,
            },
        )

    def add_price(
        self,
        price_id: str,
        *,
        product: str,
        unit_amount: int,
        interval: str = "month",
        currency: str = "usd",
        metadata: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return self.put(
            "prices",
            {
                "id": price_id,
                "object": "price",
                "active": True,
                "billing_scheme": "per_unit",
                "created": int(time.time()) - 86_400,
                "currency": currency,
                "livemode": False,
                "lookup_key": None,
                "metadata": metadata or {},
                "nickname": None,
                "product": product,
                "recurring": {
                    "interval": interval,
                    "interval_count": 1,
                    "usage_type": "licensed",
                    "meter": None,
                },
                "tax_behavior": "unspecified",
                "tiers_mode": None,
                "transform_quantity": None,
                "type": "recurring",
                "unit_amount": unit_amount,
                "unit_amount_decimal": str(unit_amount),
            },
        )

    def add_customer(
        self, customer_id: str | None = None, *, user_id: str | None = None, email: str = ""
    ) -> dict[str, Any]:
        return self.put(
            "customers",
            {
                "id": customer_id or self.new_id("cus"),
                "object": "customer",
                "address": None,
                "balance": 0,
                "created": int(time.time()),
                "currency": None,
                "default_source": None,
                "delinquent": False,
                "description": None,
                "discount": None,
                "email": email,
                "invoice_prefix": "FAKE",
                "invoice_settings": {
                    "custom_fields": None,
                    "default_payment_method": None,
                    "footer": None,
                    "rendering_options": None,
                },
                "livemode": False,
                "metadata": {"user_id": user_id} if user_id else {},
                "name": None,
                "phone": None,
                "preferred_locales": [],
                "shipping": None,
                "tax_exempt": "none",
            },
        )

    def add_subscription(
        self,
        subscription_id: str | None = None,
        *,
        customer: str,
        price: str,
        status: str = "active",
        period_end: int | None = None,
        cancel_at_period_end: bool = False,
    ) -> dict[str, Any]:
        now = int(time.time())
        end = period_end if period_end is not None else now + MONTH
        sub_id = subscription_id or self.new_id("sub")
        price_obj = self.get("prices", price)
        assert price_obj is not None, f"no price {price}"
        item = {
            "id": self.new_id("si"),
            "object": "subscription_item",
            "created": now,
            "current_period_start": end - MONTH,
            "current_period_end": end,
            "discounts": [],
            "metadata": {},
            "price": price_obj,
            "quantity": 1,
            "subscription": sub_id,
            "tax_rates": [],
        }
        return self.put(
            "subscriptions",
            {
                "id": sub_id,
                "object": "subscription",
                "billing_cycle_anchor": end - MONTH,
                "cancel_at": None,
                "cancel_at_period_end": cancel_at_period_end,
                "canceled_at": None,
                "collection_method": "charge_automatically",
                "created": now,
                "currency": price_obj["currency"],
                "customer": customer,
                "default_payment_method": None,
                "default_tax_rates": [],
                "discounts": [],
                "ended_at": None,
                "items": {
                    "object": "list",
                    "data": [item],
                    "has_more": False,
                    "total_count": 1,
                    "url": f"/v1/subscription_items?subscription={sub_id}",
                },
                "latest_invoice": None,
                "livemode": False,
                "metadata": {},
                "start_date": now,
                "status": status,
                "trial_end": None,
                "trial_start": None,
            },
        )

    def update(self, kind: str, object_id: str, **changes: Any) -> dict[str, Any]:
        with self.lock:
            obj = self.objects[kind][object_id]
            obj.update(changes)
            return obj

    def add_invoice(
        self,
        invoice_id: str | None = None,
        *,
        customer: str,
        amount: int = 1900,
        status: str = "paid",
        created: int | None = None,
        number: str | None = None,
    ) -> dict[str, Any]:
        inv_id = invoice_id or self.new_id("in")
        return self.put(
            "invoices",
            {
                "id": inv_id,
                "object": "invoice",
                "amount_due": amount,
                "amount_paid": amount if status == "paid" else 0,
                "amount_remaining": 0 if status == "paid" else amount,
                "created": created or int(time.time()),
                "currency": "usd",
                "customer": customer,
                "default_payment_method": None,
                "description": None,
                "discounts": [],
                "due_date": None,
                "hosted_invoice_url": f"https://invoice.stripe.test/i/{inv_id}",
                "invoice_pdf": f"https://pay.stripe.test/invoice/{inv_id}/pdf",
                "lines": {
                    "object": "list",
                    "data": [],
                    "has_more": False,
                    "url": f"/v1/invoices/{inv_id}/lines",
                },
                "livemode": False,
                "metadata": {},
                "number": number or f"FAKE-{inv_id[-4:]}",
                "parent": None,
                "period_end": created or int(time.time()),
                "period_start": created or int(time.time()),
                "status": status,
                "total": amount,
            },
        )

    def event(self, event_type: str, obj: dict[str, Any], *, created: int | None = None) -> dict:
        """An event about (a copy of) `obj`, also listed by GET /v1/events."""
        event = {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()) if created is None else created,
            "data": {"object": json.loads(json.dumps(obj))},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        with self.lock:
            self.events.append(event)
        return event

    # --- request handling ------------------------------------------------------------------

    def answer(self, request: Request) -> Answer:
        """An injected failure, the first answer again for a repeated idempotency key, or the
        API's answer."""
        with self.lock:
            failure = self.failures.take(request.path)
            if failure is not None:
                return failure.status, {
                    "error": {"type": failure.details["error_type"], "message": "Fake failure"}
                }
            key = request.headers.get("idempotency-key")
            signature = f"{request.path}?{request.body.decode()}"
            if request.method == "POST" and key:
                seen = self.idempotent.get(key)
                if seen is not None:
                    if seen[0] != signature:
                        return 400, {
                            "error": {
                                "type": "idempotency_error",
                                "message": "Keys for idempotent requests can only be used "
                                "with the same parameters they were first used with.",
                            }
                        }
                    return seen[1], seen[2]
            status, body = self.handle(request.method, request.path, request.query, request.form)
            if request.method == "POST" and key:
                self.idempotent[key] = (signature, status, json.loads(json.dumps(body)))
            return status, json.loads(json.dumps(body))

    def handle(
        self, method: str, path: str, query: dict[str, str], form: dict[str, str]
    ) -> tuple[int, dict]:
        parts = path.strip("/").split("/")
        if parts[:1] != ["v1"]:
            return _missing(path)
        parts = parts[1:]
        kinds = {
            "customers": "customers",
            "subscriptions": "subscriptions",
            "prices": "prices",
            "products": "products",
            "invoices": "invoices",
        }
        if parts == ["account"] and method == "GET":
            return 200, _account()
        if parts == ["events"] and method == "GET":
            return 200, self._list_events(query)
        if parts == ["customers"] and method == "POST":
            customer = self.add_customer(
                user_id=form.get("metadata[user_id]"), email=form.get("email", "")
            )
            customer["name"] = form.get("name")
            return 200, customer
        if parts == ["checkout", "sessions"] and method == "POST":
            session_id = self.new_id("cs_test")
            return 200, self.put(
                "checkout_sessions",
                {
                    "id": session_id,
                    "object": "checkout.session",
                    "client_reference_id": form.get("client_reference_id"),
                    "customer": form.get("customer"),
                    "mode": form.get("mode"),
                    "status": "open",
                    "success_url": form.get("success_url"),
                    "cancel_url": form.get("cancel_url"),
                    "subscription": None,
                    "url": f"https://checkout.stripe.test/c/pay/{session_id}",
                },
            )
        if parts == ["billing_portal", "sessions"] and method == "POST":
            if self.get("customers", form.get("customer", "")) is None:
                return _missing(path)
            session_id = self.new_id("bps")
            return 200, {
                "id": session_id,
                "object": "billing_portal.session",
                "customer": form["customer"],
                "return_url": form.get("return_url"),
                "url": f"https://billing.stripe.test/p/session/{session_id}",
            }
        if len(parts) == 3 and parts[0] == "products" and parts[2] == "features":
            return 200, {"object": "list", "data": [], "has_more": False, "url": path}
        if len(parts) == 2 and parts[0] in kinds:
            obj = self.get(kinds[parts[0]], parts[1])
            if obj is None:
                return _missing(path)
            if method == "GET":
                return 200, obj
            if parts[0] == "subscriptions" and method == "POST":
                changes: dict[str, Any] = {}
                if "cancel_at_period_end" in form:
                    changes["cancel_at_period_end"] = form["cancel_at_period_end"] == "true"
                    changes["canceled_at"] = (
                        int(time.time()) if changes["cancel_at_period_end"] else None
                    )
                return 200, self.update("subscriptions", parts[1], **changes)
            if parts[0] == "subscriptions" and method == "DELETE":
                now = int(time.time())
                return 200, self.update(
                    "subscriptions", parts[1], status="canceled", canceled_at=now, ended_at=now
                )
        return _missing(path)

    def _list_events(self, query: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            events = sorted(self.events, key=lambda e: (e["created"], e["id"]), reverse=True)
        gte = int(query.get("created[gte]", "0"))
        events = [e for e in events if e["created"] >= gte]
        if "starting_after" in query:
            ids = [e["id"] for e in events]
            events = events[ids.index(query["starting_after"]) + 1 :]
        limit = int(query.get("limit", "10"))
        return {
            "object": "list",
            "data": events[:limit],
            "has_more": len(events) > limit,
            "url": "/v1/events",
        }


def _account() -> dict[str, Any]:
    return {
        "id": ACCOUNT_ID,
        "object": "account",
        "business_profile": {"name": "Groundwork test", "url": None, "support_email": None},
        "business_type": "company",
        "charges_enabled": True,
        "country": "US",
        "created": 1_700_000_000,
        "default_currency": "usd",
        "details_submitted": True,
        "email": "owner@example.com",
        "metadata": {},
        "payouts_enabled": True,
        "settings": {
            "branding": {"icon": None, "logo": None, "primary_color": None},
            "dashboard": {"display_name": "Groundwork", "timezone": "Etc/UTC"},
        },
        "type": "standard",
    }


def _missing(path: str) -> tuple[int, dict[str, Any]]:
    return 404, {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": f"No such resource: {path}",
            "param": "id",
        }
    }
