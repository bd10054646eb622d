"""Writes from code go through the same validation as the admin's."""

from __future__ import annotations

import pytest

from config.errors import ValidationError
from flags.models import Flag
from flags.services import flag_save

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"plans": ["gold"]}, "plans"),
        ({"plans": "pro"}, "plans"),
        ({"percent": 101}, "percent"),
        ({"everyone": "x"}, "everyone"),
    ],
)
def test_an_invalid_flag_is_refused_with_the_field_named(changes, field):
    with pytest.raises(ValidationError) as refused:
        flag_save(flag=Flag(key="beta", **changes))

    assert refused.value.details["field"] == field
    assert refused.value.status_code == 422
    assert not Flag.objects.exists()


def test_a_flag_is_saved_with_its_users(user, other_user):
    flag = flag_save(flag=Flag(key="beta", plans=["pro"]), users=[user, other_user])

    assert set(flag.users.values_list("pk", flat=True)) == {user.pk, other_user.pk}
