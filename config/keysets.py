"""Cached key sets: public keys published at a URL, looked up by key id (`kid`).

Used for the identity provider's JWKS (`accounts.tokens`) and for Google's map of key id → x509
PEM certificate that signs Pub/Sub push tokens (`billing.googleplay.intake`). A `KeySet`
downloads its document (at most CERTS_MAX_BYTES), parses it (`parse_jwks`, `parse_pem_map`) into
keys by kid and keeps them, per process and thread-safe:

- for a fixed lifetime, or else for the `max-age` of the answer's Cache-Control less its `Age`
  (`max_age_of`: none with no-store/no-cache, DEFAULT_MAX_AGE_SECONDS when none is named, at most
  MAX_AGE_CEILING_SECONDS);
- a kid it does not hold (key rotation) downloads again early, but at most once per
  `min_refresh_seconds` after the last download, so tokens with made-up key ids cannot turn
  requests into downloads;
- a failed download (unreachable, not HTTP, too large, unreadable) is tried again at the
  earliest `min_refresh_seconds` later; meanwhile the keys held before are still served, and a
  kid they lack is a 503 (`ServiceUnavailableError` with `details.service`), as is any lookup
  while nothing was ever downloaded.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from email.message import Message
from typing import Any, Generic, TypeVar

import jwt
from django.core.signals import setting_changed
from django.dispatch import receiver

from config.errors import ServiceUnavailableError

logger = logging.getLogger(__name__)

K = TypeVar("K")

# Kept this long when the answer names no max-age.
DEFAULT_MAX_AGE_SECONDS = 300
MAX_AGE_CEILING_SECONDS = 86_400
CERTS_MAX_BYTES = 1_000_000
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)
_NO_STORE = re.compile(r"(?:^|,)\s*(?:no-store|no-cache)\s*(?:,|$)", re.IGNORECASE)


def max_age_of(headers: Message) -> float:
    """How long an answer may be cached: Cache-Control max-age less Age, 0 for no-store."""
    cache_control = headers.get("Cache-Control", "") or ""
    if _NO_STORE.search(cache_control):
        return 0.0
    match = _MAX_AGE.search(cache_control)
    if match is None:
        return float(DEFAULT_MAX_AGE_SECONDS)
    age_header = (headers.get("Age", "") or "").strip()
    age = int(age_header) if age_header.isascii() and age_header.isdigit() else 0
    return float(max(0, min(int(match.group(1)), MAX_AGE_CEILING_SECONDS) - age))


def parse_jwks(document: Any) -> dict[str, jwt.PyJWK]:
    """The usable keys of a JWKS document by kid (`""` for a key without one); ValueError when
    it is not a JWKS with at least one usable key."""
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    try:
        jwk_set = jwt.PyJWKSet.from_dict(document)
    except jwt.PyJWTError as error:
        raise ValueError(str(error)) from error
    return {key.key_id or "": key for key in jwk_set.keys}


def parse_pem_map(document: Any) -> dict[str, str]:
    """A map of key id to PEM certificate, as Google publishes them; ValueError otherwise."""
    if not isinstance(document, dict) or not all(
        isinstance(kid, str) and isinstance(pem, str) for kid, pem in document.items()
    ):
        raise ValueError("not a map of key id to PEM certificate")
    return dict(document)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Key material is read from the configured URL itself, never from where it points."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects())


class KeySet(Generic[K]):
    """Keys by kid from one URL, cached as the module describes.

    `parse` turns the decoded JSON document into keys by kid (raising ValueError when it cannot);
    `lifetime` fixes how long they are kept (None: the answer's Cache-Control says). Errors are
    503s with `details.service = service` and the messages given (`unavailable_message` for all
    of them unless the others are given).
    """

    def __init__(
        self,
        url: str,
        *,
        parse: Callable[[Any], Mapping[str, K]],
        service: str,
        timeout: float,
        min_refresh_seconds: float = 60.0,
        lifetime: float | None = None,
        unavailable_message: str,
        unreadable_message: str | None = None,
        not_http_message: str | None = None,
    ) -> None:
        self.url = url
        self.parse = parse
        self.service = service
        self.timeout = timeout
        self.min_refresh_seconds = min_refresh_seconds
        self.lifetime = lifetime
        self.unavailable_message = unavailable_message
        self.unreadable_message = unreadable_message or unavailable_message
        self.not_http_message = not_http_message or unavailable_message
        self._keys: Mapping[str, K] = {}
        self._fetched_at = float("-inf")  # time.monotonic() of the last download, even failed
        self._expires_at = float("-inf")
        self._failure: str | None = None  # the message of the last download, when it failed
        self._lock = threading.Lock()

    def get(self, kid: str | None) -> K | None:
        """The key for `kid` (without one: the only key, else one published without a kid);
        None when there is none.

        Downloads first when the cached keys have expired, or when `kid` is unknown and the last
        download is over `min_refresh_seconds` old. Raises ServiceUnavailableError when the
        keys cannot be had (see the module).
        """
        with self._lock:
            now = time.monotonic()
            expired = now >= self._expires_at
            may_refresh = now - self._fetched_at >= self.min_refresh_seconds
            if expired or (not self._holds(kid) and may_refresh):
                self._refresh(now)
            if self._failure is not None and not self._holds(kid):
                raise self._unavailable(self._failure)
            if not kid and len(self._keys) == 1:
                return next(iter(self._keys.values()))
            return self._keys.get(kid or "")

    def _holds(self, kid: str | None) -> bool:
        return kid in self._keys if kid else len(self._keys) == 1

    def _refresh(self, now: float) -> None:
        """Download and keep the keys; on failure keep the old ones and note the failure."""
        self._fetched_at = now
        try:
            document, max_age = self._download()
            keys = self.parse(document)
        except ServiceUnavailableError as error:
            self._failed(now, error.message, str(error.__cause__ or error))
            return
        except ValueError as error:
            self._failed(now, self.unreadable_message, f"unreadable: {error}")
            return
        self._keys = keys
        self._failure = None
        self._expires_at = now + (self.lifetime if self.lifetime is not None else max_age)
        logger.info("%s keys fetched (%d keys)", self.service, len(keys))

    def _failed(self, now: float, message: str, reason: str) -> None:
        logger.warning("%s keys unavailable from %s: %s", self.service, self.url, reason)
        self._failure = message
        self._expires_at = now + self.min_refresh_seconds

    def _download(self) -> tuple[Any, float]:
        """The decoded JSON document and how long it may be kept; ValueError when unreadable."""
        if not self.url.startswith(("https://", "http://")):
            raise self._unavailable(self.not_http_message)
        request = urllib.request.Request(self.url, headers={"Accept": "application/json"})  # noqa: S310 - scheme checked above
        try:
            with _opener.open(request, timeout=self.timeout) as response:
                body = response.read(CERTS_MAX_BYTES + 1)
                headers = response.headers
        except (OSError, ValueError) as error:  # URLError and HTTPError are OSErrors
            if isinstance(error, urllib.error.HTTPError):
                error.close()
            raise self._unavailable(self.unavailable_message) from error
        if len(body) > CERTS_MAX_BYTES:
            raise ValueError("key set document too large")
        return json.loads(body), max_age_of(headers)

    def _unavailable(self, message: str) -> ServiceUnavailableError:
        return ServiceUnavailableError(message, details={"service": self.service})


_shared: dict[tuple[Any, ...], KeySet[Any]] = {}
_shared_lock = threading.Lock()
_SHARED_MAX = 32


def shared_key_set(url: str, **options: Any) -> KeySet[Any]:
    """The process-wide `KeySet(url, **options)`: one per distinct URL and options (a new one,
    with nothing cached, when any of them changes)."""
    key = (url, *sorted(options.items()))
    with _shared_lock:
        key_set = _shared.get(key)
        if key_set is None:
            if len(_shared) >= _SHARED_MAX:
                _shared.clear()
            key_set = _shared[key] = KeySet(url, **options)
        return key_set


@receiver(setting_changed, dispatch_uid="config.keysets.forget")
def _forget_on_settings_change(**kwargs: Any) -> None:
    """Drop every cached key set when settings change (tests and reconfiguration)."""
    with _shared_lock:
        _shared.clear()
