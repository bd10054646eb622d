"""Every call to the Google Play Developer API goes through here.

The client is google-api-python-client's `androidpublisher` v3, built from the discovery document
shipped with the library (no network), pointed at `GOOGLE_PLAY_API_BASE`, and authorized with the
service account key `GOOGLE_PLAY_SERVICE_ACCOUNT_INFO` (an OAuth access token from the key's
`token_uri`, refreshed when it expires). httplib2 connections are not thread-safe and web workers
run several threads, so each thread keeps its own client; it is rebuilt when the settings it was
built from change. The client libraries are imported on the first call.

Errors become the API's: Play answering 400/404/410 for a purchase token is
`PurchaseTokenInvalidError` (400: the token is not a purchase of this app); a timeout is 504
`GatewayTimeoutError`; any other failure (5xx, refused credentials, no connection, an answer that
is not what the API documents) 502 `ExternalServiceError`; Play not configured 503
`ServiceUnavailableError`. Each carries `details.service = "google_play"`.
"""

from __future__ import annotations

import http.client
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings

from config.errors import (
    BadRequestError,
    ExternalServiceError,
    GatewayTimeoutError,
    ServiceUnavailableError,
)

logger = logging.getLogger(__name__)

SERVICE = "google_play"
SCOPE = "https://www.googleapis.com/auth/androidpublisher"
# Play's answers for a token that is not a purchase of this app (malformed, unknown, or gone).
INVALID_TOKEN_STATUSES = frozenset({400, 404, 410})


class PurchaseTokenInvalidError(BadRequestError):
    """Play does not know this purchase token for this app (its answer was 400, 404 or 410)."""


_local = threading.local()


def is_configured() -> bool:
    """Play API calls are possible: the package name and the service account key are set."""
    return bool(settings.GOOGLE_PLAY_PACKAGE_NAME and settings.GOOGLE_PLAY_SERVICE_ACCOUNT_INFO)


def require_configured() -> None:
    """503 unless the Play Developer API is configured."""
    if not is_configured():
        raise ServiceUnavailableError(
            "Google Play billing is not configured", details={"service": SERVICE}
        )


def _settings_key() -> tuple[str, str, int]:
    info = settings.GOOGLE_PLAY_SERVICE_ACCOUNT_INFO or {}
    return (
        json.dumps(info, sort_keys=True),
        settings.GOOGLE_PLAY_API_BASE,
        settings.GOOGLE_PLAY_TIMEOUT_SECONDS,
    )


def _client() -> Any:
    """This thread's androidpublisher client for the current settings."""
    # Imported on first use: google-auth, httplib2 and the API client cost web workers that
    # never call Play several MiB each.
    import httplib2
    from google.oauth2 import service_account
    from google_auth_httplib2 import AuthorizedHttp
    from googleapiclient import discovery

    key = _settings_key()
    cached: tuple[tuple[str, str, int], Any] | None = getattr(_local, "client", None)
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        credentials = service_account.Credentials.from_service_account_info(
            settings.GOOGLE_PLAY_SERVICE_ACCOUNT_INFO, scopes=[SCOPE]
        )
    except (ValueError, KeyError, TypeError) as error:
        logger.error("google play service account key unusable: %s", error)
        raise ServiceUnavailableError(
            "The Google Play service account key is not usable", details={"service": SERVICE}
        ) from error
    authorized = AuthorizedHttp(
        credentials, http=httplib2.Http(timeout=settings.GOOGLE_PLAY_TIMEOUT_SECONDS)
    )
    client = discovery.build(
        "androidpublisher",
        "v3",
        http=authorized,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": settings.GOOGLE_PLAY_API_BASE},
    )
    _local.client = (key, client)
    return client


@contextmanager
def play_call(action: str) -> Iterator[Any]:
    """Run one Play API call with this thread's client, translating its errors (see the module).

    `action` names the call in logs and in the error's details.
    """
    import httplib2
    from google.auth import exceptions as google_exceptions
    from googleapiclient.errors import Error as GoogleApiClientError
    from googleapiclient.errors import HttpError

    require_configured()
    details: dict[str, Any] = {"service": SERVICE, "action": action}
    try:
        yield _client()
    except HttpError as error:
        status = int(getattr(error.resp, "status", 0) or 0)
        details["status"] = status
        if status in INVALID_TOKEN_STATUSES:
            # Play's own text stays in the log: clients get the generic message.
            logger.info("google play %s refused the token: %s %s", action, status, error.reason)
            raise PurchaseTokenInvalidError(
                "Google Play does not know this purchase", details=details
            ) from error
        logger.warning("google play %s failed: %s %s", action, status, error.reason)
        raise ExternalServiceError("Google Play request failed", details=details) from error
    except TimeoutError as error:
        logger.warning("google play %s: no answer in time", action)
        raise GatewayTimeoutError("Google Play did not answer in time", details=details) from error
    except google_exceptions.RefreshError as error:
        logger.error("google play %s: access token refused: %s", action, error)
        details["reason"] = "credentials"
        raise ExternalServiceError(
            "Google Play refused the service account", details=details
        ) from error
    except (
        google_exceptions.GoogleAuthError,
        GoogleApiClientError,
        httplib2.HttpLib2Error,
        http.client.HTTPException,
        OSError,
        ValueError,
    ) as error:
        # No connection, a broken answer, or a body that is not JSON.
        logger.warning("google play %s failed: %r", action, error)
        raise ExternalServiceError("Google Play request failed", details=details) from error


def subscription_get(purchase_token: str) -> dict[str, Any]:
    """The subscription purchase as Play has it now (purchases.subscriptionsv2.get)."""
    with play_call("subscriptionsv2.get") as client:
        purchase = (
            client.purchases()
            .subscriptionsv2()
            .get(packageName=settings.GOOGLE_PLAY_PACKAGE_NAME, token=purchase_token)
            .execute()
        )
    if not isinstance(purchase, dict):
        raise ExternalServiceError(
            "Google Play answered with something other than a purchase",
            details={"service": SERVICE, "action": "subscriptionsv2.get"},
        )
    return purchase


def subscription_acknowledge(*, purchase_token: str, subscription_id: str) -> bool:
    """Acknowledge a subscription purchase (purchases.subscriptions.acknowledge).

    Returns False when Play refuses it for this purchase (400/404/410: the purchase changed
    since it was read, e.g. it was already acknowledged or is gone); other failures raise.
    """
    try:
        with play_call("subscriptions.acknowledge") as client:
            client.purchases().subscriptions().acknowledge(
                packageName=settings.GOOGLE_PLAY_PACKAGE_NAME,
                subscriptionId=subscription_id,
                token=purchase_token,
                body={},
            ).execute()
    except PurchaseTokenInvalidError as error:
        logger.warning("google play acknowledgement refused: %s", error.details.get("status"))
        return False
    return True
