"""The Play Developer API client: one per thread, rebuilt when its settings change."""

from __future__ import annotations

import threading

import pytest

from billing.googleplay.services import google_purchase_fetch


def fetch_in_threads(token: str, count: int) -> list[object]:
    results: list[object] = []
    barrier = threading.Barrier(count)

    def run() -> None:
        barrier.wait()
        try:
            results.append(google_purchase_fetch(purchase_token=token).state)
        except Exception as error:  # noqa: BLE001 - collected for the assertion
            results.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    return results


def test_concurrent_threads_each_use_their_own_client(google):
    token = google.add_subscription()

    results = fetch_in_threads(token, 4)

    assert results == ["SUBSCRIPTION_STATE_ACTIVE"] * 4
    # Each thread's client authorized itself once: four access tokens, four reads.
    assert len(google.issued_tokens) == 4
    assert len(google.purchase_reads) == 4


def test_a_thread_reuses_its_client_and_its_access_token(google):
    token = google.add_subscription()

    for _ in range(3):
        google_purchase_fetch(purchase_token=token)

    assert len(google.calls("POST", "/token")) == 1
    assert len(google.purchase_reads) == 3


@pytest.mark.parametrize(
    "setting", ["GOOGLE_PLAY_TIMEOUT_SECONDS", "GOOGLE_PLAY_SERVICE_ACCOUNT_INFO"]
)
def test_changed_settings_build_a_new_client(google, settings, setting):
    token = google.add_subscription()
    google_purchase_fetch(purchase_token=token)

    if setting == "GOOGLE_PLAY_TIMEOUT_SECONDS":
        settings.GOOGLE_PLAY_TIMEOUT_SECONDS = 3
    else:
        settings.GOOGLE_PLAY_SERVICE_ACCOUNT_INFO = {
            **google.service_account_info(),
            "private_key_id": "rotated-key-id",
        }
    google_purchase_fetch(purchase_token=token)

    assert len(google.calls("POST", "/token")) == 2
