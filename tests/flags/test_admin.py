"""Flags are managed in the admin; a change made there is what the API answers next."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone
from freezegun import freeze_time

from flags.models import Flag
from flags.selectors import MEMO_SECONDS, flags_cache_refresh, flags_version
from tests.factories import UserFactory

FLAGS = "/api/v1/app/flags"
CHANGELIST = "/admin/flags/flag/"

pytestmark = pytest.mark.django_db


def form(**overrides):
    """The admin form's fields, as the browser posts them."""
    data = {
        "key": "new-editor",
        "description": "The new editor.",
        "everyone": "rules",
        "users": [],
        "plans": [],
        "percent": "0",
        "expires_at_0": "",
        "expires_at_1": "",
        "_save": "Save",
    }
    data.update(overrides)
    return data


def change_url(flag: Flag) -> str:
    return f"{CHANGELIST}{flag.pk}/change/"


def test_the_list_and_the_add_page_render_with_bounded_queries(
    client, staff, django_assert_max_num_queries
):
    users = UserFactory.create_batch(3)
    for n in range(30):
        flag = Flag.objects.create(
            key=f"flag-{n}", percent=n, plans=["pro"] if n % 2 else [], everyone="rules"
        )
        flag.users.set(users)

    with django_assert_max_num_queries(5):
        listing = client.get(CHANGELIST)
    with django_assert_max_num_queries(3):
        adding = client.get(f"{CHANGELIST}add/")

    assert listing.status_code == 200
    assert listing.content.count(b"3 users; plan pro;") == 15
    assert adding.status_code == 200
    assert b'name="percent"' in adding.content


def test_the_change_page_and_the_filters_render(client, staff, user):
    flag = Flag.objects.create(key="beta", plans=["pro"])
    flag.users.add(user)

    page = client.get(change_url(flag))

    assert page.status_code == 200
    assert user.email.encode() in page.content  # the selected user, in the autocomplete widget
    for query in ("?expiry=live", "?expiry=expired", "?expiry=never", "?everyone__exact=on"):
        assert client.get(CHANGELIST + query).status_code == 200


def test_a_flag_added_in_the_admin_is_answered_by_the_api_right_after(
    api, client, staff, user, django_capture_on_commit_callbacks
):
    caller = api.as_user(user)
    assert caller.get(FLAGS).json() == {"flags": {}}
    version = flags_version()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{CHANGELIST}add/", form(everyone="on"))

    assert response.status_code == 302, response.content
    assert flags_version() != version
    assert caller.get(FLAGS).json() == {"flags": {"new-editor": True}}


def test_rules_changed_in_the_admin_are_answered_by_the_api_right_after(
    api, client, staff, user, other_user, django_capture_on_commit_callbacks
):
    flag = Flag.objects.create(key="new-editor")
    caller = api.as_user(user)
    assert caller.get(FLAGS).json() == {"flags": {"new-editor": False}}

    with django_capture_on_commit_callbacks(execute=True):
        client.post(change_url(flag), form(users=[user.pk, other_user.pk]))

    assert set(flag.users.values_list("pk", flat=True)) == {user.pk, other_user.pk}
    assert caller.get(FLAGS).json() == {"flags": {"new-editor": True}}

    with django_capture_on_commit_callbacks(execute=True):
        client.post(change_url(flag), form(users=[other_user.pk], plans=["pro", "enterprise"]))

    flag.refresh_from_db()
    assert flag.plans == ["pro", "enterprise"]
    assert caller.get(FLAGS).json() == {"flags": {"new-editor": False}}


def test_an_expiry_set_in_the_admin_takes_the_flag_off_the_list(
    api, client, staff, user, django_capture_on_commit_callbacks
):
    flag = Flag.objects.create(key="promo", everyone="on")
    caller = api.as_user(user)
    assert caller.get(FLAGS).json() == {"flags": {"promo": True}}
    past = timezone.localtime() - timezone.timedelta(minutes=5)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            change_url(flag),
            form(
                key="promo",
                everyone="on",
                expires_at_0=past.strftime("%Y-%m-%d"),
                expires_at_1=past.strftime("%H:%M:%S"),
            ),
        )

    assert caller.get(FLAGS).json() == {"flags": {}}


def test_a_flag_deleted_in_the_admin_is_gone_from_the_api(
    api, client, staff, user, django_capture_on_commit_callbacks
):
    flags = [Flag.objects.create(key=key, everyone="on") for key in ("one", "two", "three")]
    caller = api.as_user(user)
    assert caller.get(FLAGS).json()["flags"] == {"one": True, "three": True, "two": True}

    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{CHANGELIST}{flags[0].pk}/delete/", {"post": "yes"})
    assert caller.get(FLAGS).json()["flags"] == {"three": True, "two": True}

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            CHANGELIST,
            {
                "action": "delete_selected",
                "_selected_action": [flags[1].pk, flags[2].pk],
                "post": "yes",
            },
        )
    assert caller.get(FLAGS).json() == {"flags": {}}
    assert not Flag.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [("percent", "100.5"), ("percent", "-1"), ("plans", ["gold"]), ("key", "not a slug")],
)
def test_invalid_input_is_refused_on_the_form(client, staff, field, value):
    response = client.post(f"{CHANGELIST}add/", form(**{field: value}))

    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not Flag.objects.exists()


def test_another_process_sees_a_change_within_seconds(api, user):
    """A process answers from its own copy of the flags for at most MEMO_SECONDS, then picks up
    what another process published."""
    flag = Flag.objects.create(key="new-editor")
    with freeze_time(timezone.now()) as clock:
        caller = api.as_user(user)
        assert caller.get(FLAGS).json() == {"flags": {"new-editor": False}}

        # What another process's write leaves behind: the row changed, a new snapshot published.
        Flag.objects.filter(pk=flag.pk).update(everyone=Flag.Everyone.ON)
        flags_cache_refresh()

        clock.tick(MEMO_SECONDS / 2)
        assert caller.get(FLAGS).json() == {"flags": {"new-editor": False}}
        clock.tick(MEMO_SECONDS / 2 + 0.01)
        assert caller.get(FLAGS).json() == {"flags": {"new-editor": True}}


def test_a_percentage_saved_in_the_admin_keeps_its_decimals(
    client, staff, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{CHANGELIST}add/", form(percent="12.5"))

    assert Flag.objects.get().percent == Decimal("12.5")
    assert b"Rules: 12.5% of users" in client.get(CHANGELIST).content
