"""GET /api/v1/app/flags: every active flag evaluated for the caller, no SQL in steady state."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from flags.models import Flag
from flags.services import flag_save

FLAGS = "/api/v1/app/flags"

pytestmark = pytest.mark.django_db


def test_without_a_token_the_answer_is_401_in_the_envelope(api):
    response = api.get(FLAGS)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"


def test_every_active_flag_is_listed_with_its_answer_for_me(api, user, other_user):
    Flag.objects.create(key="everyone-on", everyone=Flag.Everyone.ON)
    Flag.objects.create(key="everyone-off", everyone=Flag.Everyone.OFF)
    Flag.objects.create(key="mine").users.add(user)
    Flag.objects.create(key="theirs").users.add(other_user)
    Flag.objects.create(key="pro-only", plans=["pro"])
    Flag.objects.create(
        key="expired", everyone=Flag.Everyone.ON, expires_at=timezone.now() - timedelta(minutes=1)
    )

    response = api.as_user(user).get(FLAGS)

    assert response.status_code == 200
    assert response.json() == {
        "flags": {
            "everyone-off": False,
            "everyone-on": True,
            "mine": True,
            "pro-only": False,
            "theirs": False,
        }
    }


def test_no_flags_is_an_empty_object(api, user):
    response = api.as_user(user).get(FLAGS)

    assert response.json() == {"flags": {}}


def test_the_plan_comes_from_the_users_subscription(api, user):
    Flag.objects.create(key="pro-only", plans=["pro"])
    user.subscription_plan = "pro"
    user.save()

    assert api.as_user(user).get(FLAGS).json() == {"flags": {"pro-only": True}}


def test_steady_state_runs_no_sql(api, user, django_assert_num_queries):
    for n in range(20):
        flag = Flag.objects.create(key=f"flag-{n}", percent=n * 5)
        flag.users.add(user)
    client = api.as_user(user)
    client.get(FLAGS)  # records the login (and forgets the cached user)
    client.get(FLAGS)  # caches the user

    with django_assert_num_queries(0):
        response = client.get(FLAGS)

    assert response.status_code == 200
    assert len(response.json()["flags"]) == 20


def test_a_cold_cache_costs_two_queries_for_the_flags(api, user, django_assert_num_queries):
    for n in range(20):
        Flag.objects.create(key=f"flag-{n}").users.add(user)
    client = api.as_user(user)
    client.get("/api/v1/app/users/me")  # the login and the user cache, warmed without flags
    client.get("/api/v1/app/users/me")

    with django_assert_num_queries(2):
        client.get(FLAGS)


def test_the_schema_documents_a_map_of_booleans(api):
    schema = api.get("/api/v1/openapi.json").json()

    operation = schema["paths"]["/api/v1/app/flags"]["get"]
    assert operation["operationId"] == "flags_list"
    assert {"200", "401"} <= set(operation["responses"])
    reference = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    output = schema["components"]["schemas"][reference.rsplit("/", 1)[1]]
    assert output["required"] == ["flags"]
    assert output["properties"]["flags"]["type"] == "object"
    assert output["properties"]["flags"]["additionalProperties"] == {"type": "boolean"}


def test_flags_are_answered_from_the_database_when_the_cache_is_down(
    api, user, settings, django_capture_on_commit_callbacks
):
    flag = Flag.objects.create(key="beta")
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    client = api.as_user(user)
    assert client.get(FLAGS).json() == {"flags": {"beta": False}}

    flag.everyone = Flag.Everyone.ON
    with django_capture_on_commit_callbacks(execute=True):
        flag_save(flag=flag)

    assert client.get(FLAGS).json() == {"flags": {"beta": True}}
