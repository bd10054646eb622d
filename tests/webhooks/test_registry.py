"""The handler registry owning apps plug their providers into."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from webhooks.registry import handler_for, register


def first(event):
    pass


def second(event):
    pass


def test_a_type_finds_its_handler_then_the_catch_all_then_nothing():
    undo = [register("acme", "order.paid", first), register("acme", "*", second)]
    try:
        assert handler_for("acme", "order.paid") is first
        assert handler_for("acme", "order.refunded") is second
        assert handler_for("other", "order.paid") is None
    finally:
        for step in undo:
            step()

    assert handler_for("acme", "order.paid") is None
    assert handler_for("acme", "order.refunded") is None


def test_registering_the_same_handler_twice_is_harmless_another_one_is_an_error():
    undo = register("acme", "order.paid", first)
    try:
        register("acme", "order.paid", first)
        with pytest.raises(ImproperlyConfigured, match="already has a handler"):
            register("acme", "order.paid", second)
    finally:
        undo()

    assert handler_for("acme", "order.paid") is None


def test_unregistering_leaves_a_later_registration_alone():
    undo_first = register("acme", "order.paid", first)
    undo_first()
    undo_second = register("acme", "order.paid", second)
    undo_first()

    assert handler_for("acme", "order.paid") is second
    undo_second()


@pytest.mark.parametrize(("provider", "event_type"), [("", "order.paid"), ("acme", "")])
def test_provider_and_type_are_required(provider, event_type):
    with pytest.raises(ImproperlyConfigured):
        register(provider, event_type, first)
