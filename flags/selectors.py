"""Reads of feature flags: `flag_is_active(key, user)` in code, `flags_for_user(user)` for the API.

Evaluation, the same everywhere:
- a flag past its `expires_at` is off for everyone and not listed; an unknown key is off;
- `everyone` on or off decides alone (on includes callers who are not signed in);
- otherwise the flag is on for a signed-in user who is listed in its users, whose plan
  (`user.subscription_plan`) is one of its plans, or whose bucket for the key falls under its
  percentage. The bucket is the first 8 bytes of sha256("<key>:<user id>") modulo 10,000, i.e.
  0.00..99.99: stable per user, independent between keys, and raising a percentage only adds users.

Where the answers come from, so that steady state runs no SQL: every flag (its users as ids) is
read from the database into a snapshot kept in the shared cache (Redis when configured) under a
key carrying a version. The version lives under a key of its own; each write to a flag publishes
a new snapshot and version once its transaction commits (`flags_cache_refresh`, called by
`flags.services`). Each process remembers the snapshot it read for `MEMO_SECONDS`, then checks the
version (one small cache read) and fetches the snapshot again only when it changed. So a change is
seen at once by the process that made it and within `MEMO_SECONDS` by every other one. A missing
snapshot (first use, eviction, `SNAPSHOT_SECONDS` elapsed) is rebuilt from the database (two
queries); when the cache is down the database answers, at most once per `MEMO_SECONDS` per process.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.cache import cache
from django.db.models import Q
from django.utils import timezone

from config.outages import OutageLog
from flags.models import Flag

logger = logging.getLogger(__name__)
CACHE_OUTAGE = OutageLog(logger, "flag cache unavailable, flags read from the database")

# How long a process trusts the snapshot it holds before checking the shared version.
MEMO_SECONDS = 2.0
# How long a snapshot stays in the shared cache: bounds the life of a change made outside
# `flags.services` (a shell, a cascade from a deleted user).
SNAPSHOT_SECONDS = 600
# Bump when `FlagRule` changes shape, so processes never read a snapshot pickled by another release.
SNAPSHOT_SCHEMA = 1
VERSION_KEY = f"flags:v{SNAPSHOT_SCHEMA}:version"
BUCKETS = 10_000  # a bucket is a hundredth of a percent


@dataclass(frozen=True)
class FlagRule:
    """One flag as evaluated: what the snapshot holds (user ids, not users)."""

    key: str
    everyone: str
    percent_buckets: int  # the percentage in hundredths: 2550 is 25.5 %
    user_ids: frozenset[str]
    plans: frozenset[str]
    expires_at: datetime | None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def is_on_for(self, user: Any) -> bool:
        """The answer for `user` (a User, AnonymousUser or None), expiry aside."""
        if self.everyone == Flag.Everyone.ON:
            return True
        if self.everyone == Flag.Everyone.OFF or not getattr(user, "is_authenticated", False):
            return False
        if user.pk in self.user_ids or user.subscription_plan in self.plans:
            return True
        return user_bucket(self.key, user.pk) < self.percent_buckets


@dataclass(frozen=True)
class _Memo:
    version: str
    rules: Mapping[str, FlagRule]
    checked_at: float


_memo: _Memo | None = None
_memo_lock = threading.Lock()


def user_bucket(key: str, user_id: str) -> int:
    """The user's bucket (0..9999) for the flag `key`: the same for the same pair, always."""
    digest = hashlib.sha256(f"{key}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def flag_is_active(key: str, user: Any) -> bool:
    """Whether the flag `key` is on for `user` (a User, or anonymous); False for an unknown or
    expired key. No SQL in steady state."""
    rule = _rules().get(key)
    if rule is None or rule.is_expired(timezone.now()):
        return False
    return rule.is_on_for(user)


def flags_for_user(user: Any) -> dict[str, bool]:
    """Every flag that has not expired, by key (sorted), with its answer for `user`."""
    now = timezone.now()
    return {
        key: rule.is_on_for(user)
        for key, rule in sorted(_rules().items())
        if not rule.is_expired(now)
    }


def flags_version() -> str | None:
    """The version of the shared snapshot (None when none was published or the cache is down):
    it changes with every write to a flag."""
    try:
        version: str | None = cache.get(VERSION_KEY)
    except Exception as error:  # noqa: BLE001 - reported; the database answers instead
        CACHE_OUTAGE.failed(error)
        return None
    CACHE_OUTAGE.recovered()
    return version


def flags_memo_clear() -> None:
    """Forget this process's copy of the snapshot: the next read checks the shared version."""
    global _memo
    with _memo_lock:
        _memo = None


def flags_cache_refresh() -> str:
    """Read every flag from the database and publish the snapshot under a new version, which
    every process picks up within `MEMO_SECONDS` (the writing one at once, with
    `flags_memo_clear`). Call it after a write to flags has committed. Returns the new version."""
    rules = _rules_from_database()
    version = uuid.uuid4().hex
    try:
        # Snapshot first: a process that sees the new version must find its snapshot.
        cache.set(_snapshot_key(version), rules, SNAPSHOT_SECONDS)
        cache.set(VERSION_KEY, version, None)
    except Exception as error:  # noqa: BLE001 - processes read the database meanwhile
        CACHE_OUTAGE.failed(error)
    return version


def _snapshot_key(version: str) -> str:
    return f"flags:v{SNAPSHOT_SCHEMA}:snapshot:{version}"


def _remember(version: str, rules: Mapping[str, FlagRule]) -> None:
    global _memo
    with _memo_lock:
        _memo = _Memo(version=version, rules=rules, checked_at=time.monotonic())


def _rules() -> Mapping[str, FlagRule]:
    """The snapshot: this process's copy while fresh, else the shared one, else the database."""
    memo = _memo
    if memo is not None and time.monotonic() - memo.checked_at < MEMO_SECONDS:
        return memo.rules
    try:
        version, rules = _shared_rules(memo)
    except Exception as error:  # noqa: BLE001 - the database answers while the cache is down
        CACHE_OUTAGE.failed(error)
        version, rules = "", _rules_from_database()
    else:
        CACHE_OUTAGE.recovered()
    _remember(version, rules)
    return rules


def _shared_rules(memo: _Memo | None) -> tuple[str, Mapping[str, FlagRule]]:
    """The current version and its snapshot from the shared cache (the memo's when the version
    is unchanged), rebuilt from the database and stored when missing."""
    version: str | None = cache.get(VERSION_KEY)
    if version is None:
        rules = _rules_from_database()
        version = uuid.uuid4().hex
        cache.set(_snapshot_key(version), rules, SNAPSHOT_SECONDS)
        # `add`: a version published meanwhile by a write wins over this one.
        cache.add(VERSION_KEY, version, None)
        return version, rules
    if memo is not None and version == memo.version:
        return version, memo.rules
    cached: Mapping[str, FlagRule] | None = cache.get(_snapshot_key(version))
    if cached is not None:
        return version, cached
    rules = _rules_from_database()
    cache.set(_snapshot_key(version), rules, SNAPSHOT_SECONDS)
    return version, rules


def _rules_from_database() -> dict[str, FlagRule]:
    """Every flag not yet expired, with its users' ids: two queries."""
    now = timezone.now()
    rows = list(
        Flag.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).values(
            "id", "key", "everyone", "percent", "plans", "expires_at"
        )
    )
    user_ids: dict[int, set[str]] = defaultdict(set)
    if rows:
        memberships = Flag.users.through.objects.filter(flag_id__in=[row["id"] for row in rows])
        for flag_id, user_id in memberships.values_list("flag_id", "user_id"):
            user_ids[flag_id].add(user_id)
    return {
        row["key"]: FlagRule(
            key=row["key"],
            everyone=row["everyone"],
            percent_buckets=int(Decimal(row["percent"]) * 100),
            user_ids=frozenset(user_ids[row["id"]]),
            plans=frozenset(row["plans"] or ()),
            expires_at=row["expires_at"],
        )
        for row in rows
    }
