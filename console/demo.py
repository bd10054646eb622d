"""Demo data for local development (`manage.py demo`, `make demo`): a staff sign-in and a believable
business, so that the admin, its dashboard and every list have something to show.

What is written, and through what:
- a staff superuser (`DEMO_STAFF_EMAIL`) whose generated password is kept in a gitignored file
  beside manage.py (`.demo-staff`), where the start-up banner (`manage.py welcome`) reads it;
- 36 customers (ids `demo|NN`) with sign-ups over the last 75 days, some never signed in, one
  deactivated, a few with an unverified email;
- their entitlements through billing's services, as the payment sources' webhooks write them
  (`entitlement_upsert` for Stripe, the App Store and Google Play; `entitlement_grant_manual` for
  staff grants), which also fills the audit log; Stripe's API is never called;
- projects through the projects services (some soft-deleted), files through the files services
  with real bytes in the configured storage (uploaded, plus a few pending and failed uploads);
- AI usage rows over the last 30 days with the matching daily usage counters, webhook events in
  every state of the ledger, sent and failed emails in the outbox (rows: no service writes
  history), and a few feature flags.

Idempotent: names come from seeded random generators, so a second run finds the same users,
projects, files, entitlements, events and flags and creates none of them again; the rows that have
no name of their own (AI usage, usage counters, emails) are replaced for the demo users, which keeps
their dates within the last 30 days. The counts are the same after every run.

The users are written already on the plan their entitlement gives, so the plan sync that follows
each entitlement write finds nothing to change and sends no "your plan changed" email about a
made-up purchase.

Refused with ENVIRONMENT=staging or production (the command checks `settings.IS_DEPLOYED`).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import secrets
import string
import struct
import zlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import transaction
from django.db.models import Q
from django.template import engines
from django.template.loader import render_to_string
from django.utils import timezone

from accounts.models import User
from ai.models import AIUsage
from ai.providers.base import Usage
from ai.services import CLIENT_DISCONNECTED, ai_cost_estimate
from billing.models import Entitlement
from billing.services import entitlement_grant_manual, entitlement_upsert
from config.errors import BadRequestError
from files.models import File
from files.services import file_confirm, file_local_upload_store, file_upload_start
from flags.models import Flag
from flags.services import flag_save
from notifications.models import EmailMessage, EmailSuppression
from notifications.services import SUBJECTS
from projects.models import Project
from projects.services import project_create, project_delete
from usage.models import UsageCounter
from webhooks.models import WebhookEvent

SEED = "groundwork-demo"
DEMO_ID_PREFIX = "demo|"
DEMO_STAFF_ID = "demo|staff"
DEMO_STAFF_EMAIL = "demo-staff@example.com"
DEMO_STAFF_NAME = "Dana Staff"
STAFF_FILE_NAME = ".demo-staff"
PASSWORD_ALPHABET = string.ascii_letters + string.digits
PASSWORD_LENGTH = 20
USER_COUNT = 36
SIGNUP_DAYS = 75
AI_DAYS = 30
# The metrics of `usage` that the AI rows stand for (as `ai.services` counts each call).
AI_METRICS = ("ai_requests", "ai_tokens")
# Who reported the demo emails' delivery (their tracking webhook), and the reports that put an
# address on the suppression list.
DEMO_EMAIL_PROVIDER = "postmark"
SUPPRESSING = (EmailMessage.DeliveryStatus.BOUNCED, EmailMessage.DeliveryStatus.COMPLAINED)

FIRST_NAMES = (
    "Ada", "Amara", "Ben", "Carlos", "Chen", "Dara", "Elena", "Farid", "Grace", "Hana", "Ivan",
    "Jonas", "Kofi", "Lena", "Malik", "Mei", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven",
    "Tariq", "Uma", "Viktor", "Wen", "Yara", "Zoe", "Noah", "Ines", "Leo", "Sara", "Theo", "Aiko",
    "Mateo", "Freya",
)  # fmt: skip
LAST_NAMES = (
    "Okafor", "Lindqvist", "Moreau", "Tanaka", "Novak", "Rahman", "Silva", "Becker", "Kowalski",
    "Haddad", "Nguyen", "Fischer", "Costa", "Ivanova", "Mensah", "Park", "Rossi", "Jensen",
    "Duarte", "Sato", "Keller", "Osei", "Varga", "Laurent",
)  # fmt: skip
DOMAINS = ("example.com", "example.org", "example.net")
PROJECT_NAMES = (
    "Website redesign", "Q3 launch", "Mobile app", "Onboarding flow", "Customer interviews",
    "Pricing page", "Data migration", "Support playbook", "Brand refresh", "Analytics dashboard",
    "Partner portal", "Newsletter", "Hiring plan", "Security review", "API integration",
    "Conference talk",
)  # fmt: skip
PROJECT_DESCRIPTIONS = (
    "Goals, owners and the open questions.",
    "Everything for the next release, in one place.",
    "Notes from the kick-off and the plan for the first month.",
    None,
)
FILE_NAMES = (
    ("meeting-notes.txt", "text/plain"),
    ("roadmap.txt", "text/plain"),
    ("signups-by-week.csv", "text/csv"),
    ("invoices-2026.csv", "text/csv"),
    ("logo.png", "image/png"),
    ("screenshot.png", "image/png"),
    ("budget.csv", "text/csv"),
    ("ideas.txt", "text/plain"),
)

# (source, plan, status, days until the period ends (None: no end), renewal off), one per paying
# or once-paying customer; the other customers are free. Store statuses as the sources report them.
PURCHASES: tuple[tuple[str, str, str, int | None, bool], ...] = (
    ("stripe", "pro", "active", 21, False),
    ("stripe", "pro", "active", 14, False),
    ("stripe", "pro", "active", 9, False),
    ("stripe", "pro", "active", 27, False),
    ("stripe", "pro", "active", 5, True),
    ("stripe", "pro", "trialing", 11, False),
    ("stripe", "pro", "trialing", 4, False),
    ("stripe", "pro", "past_due", 2, False),
    ("stripe", "enterprise", "active", 24, False),
    ("stripe", "enterprise", "active", 340, False),
    ("stripe", "pro", "canceled", -12, False),
    ("apple", "pro", "active", 17, False),
    ("apple", "pro", "active", 8, False),
    ("apple", "pro", "active", 3, True),
    ("apple", "enterprise", "active", 29, False),
    ("apple", "pro", "grace", 6, False),
    ("apple", "pro", "expired", -20, False),
    ("google", "pro", "active", 19, False),
    ("google", "pro", "active", 12, False),
    ("google", "pro", "active", 26, False),
    ("google", "pro", "active", 7, True),
    ("google", "pro", "canceled", -8, False),
    ("manual", "enterprise", "active", None, False),
    ("manual", "pro", "active", 45, False),
    ("manual", "pro", "active", 90, False),
    ("manual", "pro", "canceled", None, False),
)
# Staff's note on each manual grant, by (status, without an end).
MANUAL_NOTES = {
    ("active", True): "Partner account: enterprise while the partnership lasts.",
    ("active", False): "Extended trial agreed with sales.",
    ("canceled", True): "Goodwill month after an outage; ended.",
}
PRODUCT_IDS = {
    ("stripe", "pro"): "price_demo_pro_monthly",
    ("stripe", "enterprise"): "price_demo_enterprise_monthly",
    ("apple", "pro"): "com.example.groundwork.pro.monthly",
    ("apple", "enterprise"): "com.example.groundwork.enterprise.monthly",
    ("google", "pro"): "groundwork_pro_monthly",
    ("google", "enterprise"): "groundwork_enterprise_monthly",
}
# Provider, model and endpoint weights of the AI usage rows.
AI_CALLS = (
    ("echo", "echo", 2),
    ("openai", "gpt-4o-mini", 10),
    ("openai", "gpt-4.1-mini", 4),
    ("anthropic", "claude-3-5-haiku-latest", 4),
    ("anthropic", "claude-sonnet-4-0", 2),
    ("gemini", "gemini-2.5-flash", 3),
)
AI_ENDPOINTS = (
    (AIUsage.Endpoint.CHAT, 6),
    (AIUsage.Endpoint.COMPLETIONS, 3),
    (AIUsage.Endpoint.CHAT_ROUTED, 2),
)
AI_ERRORS = ("GATEWAY_TIMEOUT", "EXTERNAL_SERVICE_ERROR", CLIENT_DISCONNECTED)
FLAGS: tuple[dict[str, Any], ...] = (
    {
        "key": "new-editor",
        "description": "The rewritten project editor; remove once every plan has it.",
        "everyone": Flag.Everyone.RULES,
        "plans": ["pro", "enterprise"],
    },
    {
        "key": "dark-mode",
        "description": "Dark theme in the apps.",
        "everyone": Flag.Everyone.ON,
    },
    {
        "key": "ai-routing-beta",
        "description": "Complexity-based model routing in the chat screen.",
        "everyone": Flag.Everyone.RULES,
        "percent": Decimal(25),
        "users": 3,
    },
    {
        "key": "legacy-export",
        "description": "The old CSV export; off, to be deleted.",
        "everyone": Flag.Everyone.OFF,
    },
)


@dataclass(frozen=True)
class DemoStaff:
    """The demo staff sign-in: `password_is_new` when this run set it."""

    email: str
    password: str
    password_is_new: bool


@dataclass(frozen=True)
class DemoResult:
    """What `demo_seed` left in the database: the staff sign-in and the demo rows per kind."""

    staff: DemoStaff
    counts: dict[str, int]


@dataclass(frozen=True)
class _Purchase:
    source: str
    plan: str
    status: str
    period_end: datetime | None
    cancel_at_period_end: bool
    external_id: str

    @property
    def grants_access(self) -> bool:
        return self.status in Entitlement.ENTITLED_STATUSES and (
            self.period_end is None or self.period_end > timezone.now()
        )


@dataclass
class _Person:
    user_id: str
    email: str
    full_name: str
    created_at: datetime
    last_login_at: datetime | None
    login_count: int
    email_verified: bool
    is_active: bool
    customer_id: str
    purchase: _Purchase | None
    user: User = field(init=False)


# --- The staff sign-in and its file --------------------------------------------------------------


def demo_staff_file() -> Path:
    """Where the demo staff sign-in is kept: `.demo-staff` beside manage.py (gitignored)."""
    return Path(settings.BASE_DIR) / STAFF_FILE_NAME


def _password_check(user: User) -> str:
    # Identifies the stored hash: once the password is changed (the admin, `changepassword`) the
    # kept one is no longer shown. A digest, so that checking costs no password hashing.
    return hashlib.sha256(user.password.encode()).hexdigest()


def _read_staff_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text()
    except (FileNotFoundError, IsADirectoryError, PermissionError, UnicodeDecodeError):
        return {}
    values = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            values[name.strip()] = value.strip()
    return values


def _write_staff_file(path: Path, *, user: User, password: str) -> None:
    """Keep the sign-in in `path`, readable by its owner only (created so, never widened)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as kept:
        kept.write(
            "# The demo staff sign-in, written by `manage.py demo` for local development only.\n"
            "# Never commit it (.gitignore lists it). `make run` shows it in its start-up banner.\n"
            f"email={user.email}\npassword={password}\ncheck={_password_check(user)}\n"
        )


def demo_sign_in(*, path: Path) -> DemoStaff | None:
    """The demo staff sign-in kept in `path`, when it still signs in: the staff user exists, is
    active and still has that password. None otherwise (no demo yet, another database, changed)."""
    if settings.IS_DEPLOYED:
        return None
    values = _read_staff_file(path)
    email, password = values.get("email"), values.get("password")
    if not email or not password:
        return None
    user = User.objects.filter(
        pk=DEMO_STAFF_ID, email__iexact=email, is_staff=True, is_active=True
    ).first()
    if user is None or values.get("check") != _password_check(user):
        return None
    return DemoStaff(email=user.email, password=password, password_is_new=False)


def _ensure_staff(*, path: Path) -> tuple[User, DemoStaff]:
    """The demo superuser, active, with the password kept in `path` or a new one (which the
    caller keeps in `path` once the transaction has committed)."""
    user = User.objects.filter(pk=DEMO_STAFF_ID).first()
    if user is None:
        user = User.objects.create_superuser(
            DEMO_STAFF_EMAIL, None, id=DEMO_STAFF_ID, full_name=DEMO_STAFF_NAME
        )
    else:
        user.email = DEMO_STAFF_EMAIL
        user.is_active = user.is_staff = user.is_superuser = True
        user.role = User.Role.SUPERADMIN
        user.save()
    kept = demo_sign_in(path=path)
    if kept is not None:
        return user, kept
    # Letters and digits only: one double-click selects it in any terminal.
    password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
    user.set_password(password)
    user.save(update_fields=["password", "updated_at"])
    return user, DemoStaff(email=user.email, password=password, password_is_new=True)


# --- The plan of the data set (from the seeded generators only, never from the database) --------


def _rng(section: str) -> random.Random:
    """The generator of one part of the data set: the same values on every run."""
    return random.Random(f"{SEED}:{section}")  # noqa: S311 - reproducible made-up data, no secret


def _people(*, now: datetime) -> list[_Person]:
    rng = _rng("people")
    names = [(first, last) for first in FIRST_NAMES for last in LAST_NAMES]
    chosen = rng.sample(names, USER_COUNT)
    purchases: list[tuple[str, str, str, int | None, bool] | None] = [
        *PURCHASES,
        *([None] * (USER_COUNT - len(PURCHASES))),
    ]
    rng.shuffle(purchases)
    people = []
    for index, ((first, last), bought) in enumerate(zip(chosen, purchases, strict=True)):
        created_at = now - timedelta(days=rng.uniform(0.3, SIGNUP_DAYS))
        signed_in = rng.random() < 0.85
        since_signup = (now - created_at).total_seconds()
        purchase = None
        if bought is not None:
            source, plan, status, days, renewal_off = bought
            purchase = _Purchase(
                source=source,
                plan=plan,
                status=status,
                period_end=now + timedelta(days=days, hours=rng.uniform(0, 20))
                if days is not None
                else None,
                cancel_at_period_end=renewal_off,
                external_id=_external_id(rng, source=source, index=index),
            )
        people.append(
            _Person(
                user_id=f"{DEMO_ID_PREFIX}{index + 1:02d}",
                email=f"{first}.{last}@{rng.choice(DOMAINS)}".lower(),
                full_name=f"{first} {last}",
                created_at=created_at,
                last_login_at=created_at + timedelta(seconds=rng.uniform(0.2, 1) * since_signup)
                if signed_in
                else None,
                login_count=rng.randint(1, 60) if signed_in else 0,
                email_verified=rng.random() < 0.9,
                is_active=index != 7,
                customer_id=f"cus_demo{rng.getrandbits(48):012x}",
                purchase=purchase,
            )
        )
    return people


def _external_id(rng: random.Random, *, source: str, index: int) -> str:
    if source == "stripe":
        return f"sub_demo{rng.getrandbits(56):014x}"
    if source == "apple":
        return f"2000000{rng.randint(10**8, 10**9 - 1)}"
    if source == "google":
        return f"demo-purchase-token.{rng.getrandbits(128):032x}"
    return f"manual_demo_{index + 1:02d}"  # manual grants get a generated id of their own


# --- The writes ----------------------------------------------------------------------------------


def _ensure_users(people: list[_Person]) -> None:
    existing = User.objects.in_bulk([person.user_id for person in people])
    missing = []
    for person in people:
        user = existing.get(person.user_id)
        if user is None:
            plan, status = "free", "none"
            if person.purchase is not None and person.purchase.grants_access:
                plan, status = person.purchase.plan, person.purchase.status
            user = User(
                id=person.user_id,
                email=person.email,
                full_name=person.full_name,
                email_verified=person.email_verified,
                is_active=person.is_active,
                subscription_plan=plan,
                subscription_status=status,
                created_at=person.created_at,
                last_login_at=person.last_login_at,
                login_count=person.login_count,
            )
            user.set_unusable_password()
            missing.append(user)
        person.user = user
    User.objects.bulk_create(missing)


def _ensure_entitlements(people: list[_Person], *, staff: User, now: datetime) -> None:
    buyers = [(person, person.purchase) for person in people if person.purchase is not None]
    stored = set(
        Entitlement.objects.filter(user__in=[person.user for person, _ in buyers]).values_list(
            "user_id", "source"
        )
    )
    for person, purchase in buyers:
        if (person.user_id, purchase.source) in stored:
            continue
        if purchase.source == Entitlement.Source.MANUAL:
            entitlement_grant_manual(
                user=person.user,
                plan=purchase.plan,
                granted_by=staff,
                until=purchase.period_end,
                note=MANUAL_NOTES[(purchase.status, purchase.period_end is None)],
                status=purchase.status,
            )
            continue
        entitlement_upsert(
            user=person.user,
            source=purchase.source,
            external_id=purchase.external_id,
            product_id=PRODUCT_IDS[(purchase.source, purchase.plan)],
            plan=purchase.plan,
            status=purchase.status,
            current_period_end=purchase.period_end,
            cancel_at_period_end=purchase.cancel_at_period_end,
            source_updated_at=now,
        )


def _between(rng: random.Random, start: datetime, end: datetime) -> datetime:
    return start + (end - start) * rng.random()


def _ensure_projects(people: list[_Person], *, now: datetime) -> None:
    rng = _rng("projects")
    stored = set(
        Project.all_objects.filter(owner__in=[person.user for person in people]).values_list(
            "owner_id", "name"
        )
    )
    backdated = []
    for person in people:
        count = rng.choice((0, 1, 2, 2, 3, 3, 4, 5))
        for name in rng.sample(PROJECT_NAMES, count):
            description = rng.choice(PROJECT_DESCRIPTIONS)
            deleted = rng.random() < 0.15
            created_at = _between(rng, person.user.created_at, now)
            if (person.user_id, name) in stored:
                continue
            project = project_create(owner=person.user, name=name, description=description)
            if deleted:
                project_delete(project=project)
            project.created_at = created_at
            backdated.append(project)
    Project.all_objects.bulk_update(backdated, ["created_at"])


def _png(*, width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


def _file_body(rng: random.Random, *, filename: str, content_type: str, owner: str) -> bytes:
    if content_type == "image/png":
        rgb = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        return _png(width=rng.choice((64, 128, 256)), height=rng.choice((64, 128)), rgb=rgb)
    if content_type == "text/csv":
        start = date(2026, 1, 5)
        rows = ["week,visitors,signups,revenue_usd"]
        for week in range(rng.randint(8, 40)):
            visitors = rng.randint(800, 9000)
            rows.append(
                f"{start + timedelta(weeks=week)},{visitors},{visitors // rng.randint(20, 60)},"
                f"{rng.randint(200, 5000)}"
            )
        return ("\n".join(rows) + "\n").encode()
    lines = [f"{filename.rsplit('.', 1)[0].replace('-', ' ').title()} ({owner})", ""]
    for _ in range(rng.randint(3, 30)):
        lines.append(f"- {rng.choice(PROJECT_NAMES)}: {rng.choice(('done', 'next', 'blocked'))}")
    return ("\n".join(lines) + "\n").encode()


def _ensure_files(people: list[_Person], *, now: datetime) -> None:
    """Uploaded files with real bytes (announce, store, confirm: the services an upload goes
    through), plus uploads never sent (pending) and refused at confirmation (failed)."""
    rng = _rng("files")
    stored = set(
        File.objects.filter(owner__in=[person.user for person in people]).values_list(
            "owner_id", "filename"
        )
    )
    backdated = []
    planned = 0
    for person in people:
        if not person.is_active or rng.random() < 0.4:
            continue
        for filename, content_type in rng.sample(FILE_NAMES, rng.randint(1, 4)):
            body = _file_body(rng, filename=filename, content_type=content_type, owner=person.email)
            planned += 1
            # About one upload in twelve never sent, one in twelve refused.
            outcome = {5: "pending", 11: "failed"}.get(planned % 12, "uploaded")
            created_at = _between(rng, person.user.created_at, now)
            uploaded_at = created_at + timedelta(seconds=rng.uniform(2, 40))
            # Every value is drawn before this check, so the draws never depend on the database.
            if (person.user_id, filename) in stored:
                continue
            upload = file_upload_start(
                owner=person.user, filename=filename, content_type=content_type, size=len(body)
            )
            file = upload.file
            if outcome == "uploaded":
                file_local_upload_store(
                    file=file,
                    content_type=content_type,
                    content=SimpleUploadedFile(filename, body, content_type=content_type),
                )
                file = file_confirm(owner=person.user, file_id=str(file.pk))
                file.uploaded_at = uploaded_at
            elif outcome == "failed":
                try:  # confirmed without the bytes: refused, and the file is marked failed
                    file_confirm(owner=person.user, file_id=str(file.pk))
                except BadRequestError:
                    file.refresh_from_db()
            file.created_at = created_at
            backdated.append(file)
    File.objects.bulk_update(backdated, ["created_at", "uploaded_at"])


def _weighted(rng: random.Random, choices: Iterable[tuple[Any, ...]]) -> tuple[Any, ...]:
    options = list(choices)
    return rng.choices(options, weights=[option[-1] for option in options])[0]


def _refresh_ai_usage(people: list[_Person], *, now: datetime) -> None:
    """AI calls over the last 30 days (none before the user signed up), and the daily
    `ai_requests`/`ai_tokens` counters they add up to; replaces the demo users' rows."""
    rng = _rng("ai")
    users = [person.user for person in people]
    AIUsage.objects.filter(user__in=users).delete()
    UsageCounter.objects.filter(user__in=users, metric__in=AI_METRICS).delete()
    rows = []
    for person in people:
        plan = person.user.subscription_plan
        if plan == "free" and rng.random() < 0.5:
            continue
        calls = {"free": (2, 15), "pro": (15, 45), "enterprise": (40, 80)}.get(plan, (2, 15))
        start = max(person.user.created_at, now - timedelta(days=AI_DAYS))
        for _ in range(rng.randint(*calls)):
            provider, model, _weight = _weighted(rng, AI_CALLS)
            endpoint = _weighted(rng, AI_ENDPOINTS)[0]
            failed = rng.random() < 0.05
            error_code = rng.choice(AI_ERRORS) if failed else ""
            prompt = rng.randint(20, 1800)
            completion = (
                0 if error_code and error_code != CLIENT_DISCONNECTED else rng.randint(10, 1200)
            )
            usage = Usage(prompt_tokens=prompt, completion_tokens=completion)
            rows.append(
                AIUsage(
                    user=person.user,
                    endpoint=endpoint,
                    provider=provider,
                    model=model,
                    streamed=rng.random() < 0.4,
                    prompt_tokens=prompt,
                    completion_tokens=completion,
                    total_tokens=usage.total_tokens,
                    latency_ms=rng.randint(30, 400)
                    if provider == "echo"
                    else rng.randint(350, 9000),
                    success=not error_code,
                    error_code=error_code,
                    cost_estimate=ai_cost_estimate(model=model, usage=usage),
                    created_at=_between(rng, start, now),
                )
            )
    AIUsage.objects.bulk_create(rows, batch_size=500)
    per_day: defaultdict[tuple[str, str, date], int] = defaultdict(int)
    for row in rows:
        day = row.created_at.astimezone(UTC).date()
        per_day[(row.user_id, "ai_requests", day)] += 1
        per_day[(row.user_id, "ai_tokens", day)] += row.total_tokens
    UsageCounter.objects.bulk_create(
        [
            UsageCounter(user_id=user_id, metric=metric, day=day, value=value, updated_at=now)
            for (user_id, metric, day), value in sorted(per_day.items())
        ],
        batch_size=500,
    )


def _webhook_events(people: list[_Person], *, now: datetime) -> list[WebhookEvent]:
    """Deliveries as each provider sends them, in every state of the ledger."""
    rng = _rng("webhooks")
    events: list[WebhookEvent] = []

    def add(
        provider: str, event_type: str, subject: str, payload: dict[str, Any], **state: Any
    ) -> None:
        event_id = {
            "stripe": f"evt_demo{rng.getrandbits(64):016x}",
            "apple": f"demo-{rng.getrandbits(128):032x}",
            "google": f"demo-{rng.randint(10**15, 10**16 - 1)}",
            "clerk": f"msg_demo{rng.getrandbits(64):016x}",
        }[provider]
        received_at = state.pop("received_at", None) or now - timedelta(days=rng.uniform(0, 30))
        status = state.pop("status", WebhookEvent.Status.PROCESSED)
        settled = status in (
            WebhookEvent.Status.PROCESSED,
            WebhookEvent.Status.IGNORED,
            WebhookEvent.Status.FAILED,
        )
        events.append(
            WebhookEvent(
                provider=provider,
                event_id=event_id,
                event_type=event_type,
                subject=subject,
                payload=payload,
                raw_body="" if settled else json.dumps(payload),
                status=status,
                attempts=state.pop("attempts", 1),
                last_error=state.pop("last_error", ""),
                received_at=received_at,
                processed_at=received_at + timedelta(seconds=rng.uniform(0.1, 3))
                if status in (WebhookEvent.Status.PROCESSED, WebhookEvent.Status.IGNORED)
                else None,
                next_retry_at=state.pop("next_retry_at", None),
            )
        )

    for person in people:
        purchase = person.purchase
        if purchase is None or purchase.source == Entitlement.Source.MANUAL:
            continue
        if purchase.source == "stripe":
            subscription = {"id": purchase.external_id, "customer": person.customer_id}
            add(
                "stripe",
                "customer.subscription.created",
                person.customer_id,
                {"type": "customer.subscription.created", "data": {"object": subscription}},
            )
            last_type = {
                "canceled": "customer.subscription.deleted",
                "past_due": "invoice.payment_failed",
            }.get(purchase.status, "invoice.paid")
            add(
                "stripe",
                last_type,
                person.customer_id,
                {"type": last_type, "data": {"object": subscription}},
            )
        elif purchase.source == "apple":
            kind = {"expired": "EXPIRED", "grace": "DID_FAIL_TO_RENEW"}.get(
                purchase.status, "DID_RENEW"
            )
            add(
                "apple",
                kind,
                purchase.external_id,
                {"notificationType": kind, "data": {"originalTransactionId": purchase.external_id}},
            )
        else:
            kind = (
                "SUBSCRIPTION_CANCELED" if purchase.status == "canceled" else "SUBSCRIPTION_RENEWED"
            )
            add(
                "google",
                kind,
                purchase.external_id,
                {"subscriptionNotification": {"notificationType": kind}},
            )
    subject = people[0].customer_id
    stripe_error = (
        "config.errors.ExternalServiceError: The payment service failed (Stripe answered 500)"
    )
    add("stripe", "customer.subscription.updated", subject, {"type": "updated"},
        status=WebhookEvent.Status.FAILED, attempts=6, last_error=stripe_error)  # fmt: skip
    add("stripe", "invoice.paid", people[1].customer_id, {"type": "invoice.paid"},
        status=WebhookEvent.Status.FAILED, attempts=6, last_error=stripe_error,
        received_at=now - timedelta(hours=3))  # fmt: skip
    add("stripe", "charge.refund.updated", people[2].customer_id, {"type": "refund"},
        status=WebhookEvent.Status.IGNORED)  # fmt: skip
    add("stripe", "customer.updated", people[3].customer_id, {"type": "customer.updated"},
        status=WebhookEvent.Status.RECEIVED, attempts=2, received_at=now - timedelta(minutes=4),
        last_error=stripe_error, next_retry_at=now + timedelta(minutes=6))  # fmt: skip
    add("apple", "TEST", "", {"notificationType": "TEST"}, status=WebhookEvent.Status.IGNORED)
    add("google", "SUBSCRIPTION_RECOVERED", "demo-purchase-token.unknown",
        {"subscriptionNotification": {"notificationType": "SUBSCRIPTION_RECOVERED"}},
        status=WebhookEvent.Status.FAILED, attempts=6,
        last_error="billing.googleplay.client.PlayError: purchase token not found")  # fmt: skip
    for person in people[4:10]:
        add("clerk", "user.updated", f"user_demo{person.user_id[-2:]}", {"type": "user.updated"})
    add("clerk", "session.created", "user_demo05", {"type": "session.created"},
        status=WebhookEvent.Status.IGNORED)  # fmt: skip
    add("clerk", "user.updated", "user_demo06", {"type": "user.updated"},
        status=WebhookEvent.Status.PROCESSING, received_at=now - timedelta(seconds=20))  # fmt: skip
    return events


def _ensure_webhook_events(people: list[_Person], *, now: datetime) -> None:
    # Unique per (provider, event id): what a second run would add again is skipped.
    WebhookEvent.objects.bulk_create(_webhook_events(people, now=now), ignore_conflicts=True)


def _rendered(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """(subject, text, html) of an outbox template, as the outbox renders them."""
    full = {"product_name": settings.EMAIL_PRODUCT_NAME, **context}
    subject = engines["django"].from_string(SUBJECTS[template]).render(full)
    return (
        " ".join(subject.split()),
        render_to_string(f"emails/{template}.txt", full).strip() + "\n",
        render_to_string(f"emails/{template}.html", full),
    )


def _refresh_emails(people: list[_Person], *, now: datetime) -> None:
    """The outbox's history: welcome emails at sign-up, plan changes at purchase; a few failed
    (the address refused). Replaces the demo users' rows."""
    rng = _rng("emails")
    EmailSuppression.objects.filter(address__in=[person.email for person in people]).delete()
    EmailMessage.objects.filter(user__in=[person.user for person in people]).delete()
    rows: list[EmailMessage] = []
    suppressions: dict[str, EmailSuppression] = {}
    retries = settings.EMAIL_SEND_MAX_RETRIES
    for person in people:
        if not person.email_verified:
            continue  # unverified addresses are never mailed
        messages = [("welcome", {"name": person.full_name}, person.user.created_at)]
        purchase = person.purchase
        if purchase is not None and purchase.grants_access:
            messages.append(
                (
                    "subscription_changed",
                    {
                        "name": person.full_name,
                        "plan": purchase.plan,
                        "plan_name": Entitlement.Plan(purchase.plan).label,
                        "status": purchase.status,
                        "previous_plan": "free",
                        "previous_status": "none",
                    },
                    _between(rng, person.user.created_at, now),
                )
            )
        for template, context, at in messages:
            subject, text, html = _rendered(template, context)
            refused = rng.random() < 0.08
            sent_at = at + timedelta(seconds=rng.uniform(1, 20))
            reported_at = sent_at + timedelta(seconds=rng.uniform(2, 90))
            message_id = f"<demo.{rng.getrandbits(64):016x}@mail>"
            delivery, detail = _delivery(rng, sent=len(rows))
            row = EmailMessage(
                user=person.user,
                to=person.email,
                template=template,
                subject=subject,
                context=context,
                text_body=text,
                html_body=html,
                status=EmailMessage.Status.FAILED if refused else EmailMessage.Status.SENT,
                error="SMTPRecipientsRefused: 421 4.7.0 try again later" if refused else "",
                attempts=retries + 1 if refused else 1,
                created_at=at,
            )
            if not refused:
                row.sent_at = sent_at
                row.provider_message_id = message_id
                row.delivery_status, row.delivery_detail = delivery, detail
                row.delivery_updated_at = reported_at if delivery else None
                if delivery in SUPPRESSING:
                    # A hard bounce or a complaint puts the address on the suppression list
                    # (one entry per address: its latest report).
                    suppressions[person.email] = EmailSuppression(
                        address=person.email,
                        reason=EmailSuppression.Reason(delivery),
                        provider=DEMO_EMAIL_PROVIDER,
                        detail=detail,
                        suppressed_at=reported_at,
                        email=row,
                    )
            rows.append(row)
    EmailMessage.objects.bulk_create(rows)
    EmailSuppression.objects.bulk_create(suppressions.values())


def _delivery(rng: random.Random, *, sent: int) -> tuple[str, str]:
    """(delivery status, detail) the provider reported for the `sent`-th email: mostly delivered,
    some not reported yet or deferred, one in 17 bounced and one in 29 complained about."""
    statuses = EmailMessage.DeliveryStatus
    if sent % 17 == 8:
        return (
            statuses.BOUNCED,
            "550 5.1.1 The email account that you tried to reach does not exist",
        )
    if sent % 29 == 20:
        return statuses.COMPLAINED, "The recipient marked the email as spam"
    outcome = rng.random()
    if outcome < 0.08:
        return statuses.UNKNOWN, ""
    if outcome < 0.12:
        return statuses.DEFERRED, "451 4.4.1 Mailbox temporarily unavailable; retrying"
    return statuses.DELIVERED, ""


def _ensure_flags(people: list[_Person]) -> None:
    existing = set(
        Flag.objects.filter(key__in=[spec["key"] for spec in FLAGS]).values_list("key", flat=True)
    )
    for spec in FLAGS:
        if spec["key"] in existing:
            continue  # staff may have changed it since: left as it is
        values = {name: value for name, value in spec.items() if name != "users"}
        users = [person.user for person in people[: spec.get("users", 0)]]
        flag_save(flag=Flag(**values), users=users)


def demo_counts() -> dict[str, int]:
    """The demo's rows per kind (the demo users' rows; flags and webhook events of the demo)."""
    users = User.objects.filter(pk__startswith=DEMO_ID_PREFIX, is_staff=False)
    return {
        "users": users.count(),
        "entitlements": Entitlement.objects.filter(user__in=users).count(),
        "projects": Project.all_objects.filter(owner__in=users).count(),
        "projects_deleted": Project.all_objects.filter(
            owner__in=users, deleted_at__isnull=False
        ).count(),
        "files": File.objects.filter(owner__in=users).count(),
        "ai_usage": AIUsage.objects.filter(user__in=users).count(),
        "usage_counters": UsageCounter.objects.filter(user__in=users).count(),
        "emails": EmailMessage.objects.filter(user__in=users).count(),
        "email_suppressions": EmailSuppression.objects.filter(
            address__in=users.values("email")
        ).count(),
        "webhook_events": WebhookEvent.objects.filter(
            Q(event_id__startswith="evt_demo")
            | Q(event_id__startswith="demo-")
            | Q(event_id__startswith="msg_demo")
        ).count(),
        "flags": Flag.objects.filter(key__in=[spec["key"] for spec in FLAGS]).count(),
    }


def demo_seed(*, staff_file: Path, now: datetime | None = None) -> DemoResult:
    """Write the demo data set (see the module doc) and return the staff sign-in and the counts.

    Idempotent; one transaction. The caller refuses deployed environments.
    """
    now = now or timezone.now()
    people = _people(now=now)
    with transaction.atomic():
        staff_user, staff = _ensure_staff(path=staff_file)
        _ensure_users(people)
        _ensure_entitlements(people, staff=staff_user, now=now)
        _ensure_projects(people, now=now)
        _ensure_files(people, now=now)
        _refresh_ai_usage(people, now=now)
        _ensure_webhook_events(people, now=now)
        _refresh_emails(people, now=now)
        _ensure_flags(people)
    if staff.password_is_new:
        _write_staff_file(staff_file, user=staff_user, password=staff.password)
    return DemoResult(staff=staff, counts=demo_counts())
