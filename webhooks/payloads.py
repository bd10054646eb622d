"""What the ledger keeps of a delivery: JSON it can store, and only the fields handlers need.

Parsing. `load_json` is the one JSON reader of webhook bodies (and of JSON nested in them, such
as a Pub/Sub message's data): anything it cannot turn into storable JSON raises ValueError, which
intake answers with 400. Refused: bytes that are not UTF-8, broken JSON, `NaN`/`Infinity` and
numbers too large for a double (PostgreSQL's jsonb holds neither), integers of more digits than
Python converts, strings with lone surrogates (no UTF-8 encoding exists for them), and nesting
deeper than MAX_DEPTH levels. The depth is checked without recursion, and a document deep enough
to exhaust the stack while being decoded is refused too (RecursionError), never a 500.

Allowlists. Providers send far more than handlers read (Supabase's `auth.users` rows carry
`encrypted_password`, recovery and confirmation tokens and the phone number). Each provider
registers a `FieldSpec` (`webhooks.registry.register_payload`), and `prune` keeps exactly what it
lists:

    {"type": KEEP, "data": {"id": KEEP, "email": PERSONAL, "tags": [KEEP]}}

- a mapping keeps those keys of an object (each pruned by its own spec) and drops the others;
- a one-element list keeps a list, each item pruned by that element;
- `KEEP` keeps a scalar (string, number, boolean, null) and drops an object or a list found there;
- `PERSONAL` is `KEEP` for data about a person (an email, a name): kept until the person is
  erased, when `prune(..., personal=False)` drops it and keeps the rest for idempotent replays;
- `ALL` keeps the value whole (for tests' providers; never for a real provider's body).

A scalar found where a mapping or list is expected is kept (an id sent instead of an expanded
object, as Stripe does); a container found where a scalar is expected is dropped.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from typing import Any

# No provider's event nests this deep (Stripe's expanded objects reach about a dozen levels).
MAX_DEPTH = 64


class Keep(enum.Enum):
    """Leaf rules of a FieldSpec."""

    KEEP = "keep"
    PERSONAL = "personal"
    ALL = "all"


KEEP = Keep.KEEP
PERSONAL = Keep.PERSONAL
ALL = Keep.ALL

# Keep | Mapping[str, FieldSpec] | list[FieldSpec] (one element); recursive, so spelled Any.
FieldSpec = Any

_DROPPED = object()


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("a number is too large")
    return value


def check_storable(value: Any, *, max_depth: int = MAX_DEPTH) -> None:
    """Raise ValueError unless `value` (parsed JSON) can be stored as it is.

    Checks, without recursion: at most `max_depth` levels of objects and arrays, string keys,
    finite numbers, strings that encode to UTF-8.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise ValueError("a number is not finite")
        elif isinstance(item, dict | list):
            if depth > max_depth:
                raise ValueError(f"nested more than {max_depth} levels deep")
            if isinstance(item, dict):
                for key in item:
                    if not isinstance(key, str):
                        raise ValueError("an object key is not a string")
                    _check_text(key)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif item is not None and not isinstance(item, bool | int):
            raise ValueError(f"a {type(item).__name__} is not JSON")


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a string holds a lone surrogate") from None


def load_json(data: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse JSON into storable values (see the module); ValueError for anything else."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(f"nested more than {max_depth} levels deep") from None
    check_storable(value, max_depth=max_depth)
    return value


def prune(value: Any, spec: FieldSpec, *, personal: bool = True) -> Any:
    """The part of `value` that `spec` allows (see the module); `personal=False` drops
    PERSONAL fields too. Returns a new value; `value` is not changed."""
    kept = _prune(value, spec, personal=personal)
    return None if kept is _DROPPED else kept


def _prune(value: Any, spec: FieldSpec, *, personal: bool) -> Any:
    if spec is ALL:
        return value
    if spec is PERSONAL and not personal:
        return _DROPPED
    if isinstance(value, dict):
        if not isinstance(spec, Mapping):
            return _DROPPED
        pruned = {}
        for key, child_spec in spec.items():
            if key in value:
                child = _prune(value[key], child_spec, personal=personal)
                if child is not _DROPPED:
                    pruned[key] = child
        return pruned
    if isinstance(value, list):
        if not isinstance(spec, list) or len(spec) != 1:
            return _DROPPED
        items = (_prune(item, spec[0], personal=personal) for item in value)
        return [item for item in items if item is not _DROPPED]
    return value
