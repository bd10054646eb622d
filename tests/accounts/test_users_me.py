"""GET/PATCH/DELETE /api/v1/app/users/me."""

from __future__ import annotations

import pytest

from accounts.models import User

URL = "/api/v1/app/users/me"

pytestmark = pytest.mark.django_db


def test_get_returns_the_user_shape(api, user):
    response = api.as_user(user).get(URL)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "id",
        "email",
        "full_name",
        "avatar_url",
        "role",
        "is_active",
        "subscription_plan",
        "subscription_status",
        "created_at",
    }
    assert body["id"] == user.pk
    assert body["email"] == user.email
    assert body["role"] == "user"
    assert body["created_at"].endswith("Z")


def test_get_runs_one_query_for_a_known_user(api, user, django_assert_max_num_queries):
    api.as_user(user).get(URL)  # first request of the hour records the login

    with django_assert_max_num_queries(1):
        response = api.get(URL)

    assert response.status_code == 200


def test_patch_changes_profile_fields(api, user):
    response = api.as_user(user).patch(
        URL, {"full_name": "  Ada Lovelace ", "avatar_url": "https://cdn.example.com/ada.png"}
    )

    assert response.status_code == 200
    assert response.json()["full_name"] == "Ada Lovelace"
    user.refresh_from_db()
    assert user.full_name == "Ada Lovelace"
    assert user.avatar_url == "https://cdn.example.com/ada.png"


def test_patch_ignores_read_only_and_unknown_fields(api, user):
    response = api.as_user(user).patch(
        URL,
        {
            "id": "someone-else",
            "email": "new@example.com",
            "role": "superadmin",
            "is_active": False,
            "subscription_plan": "enterprise",
            "subscription_status": "active",
            "owner_id": "x",
            "unknown": 1,
        },
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.pk, user.role, user.is_active) == (response.json()["id"], "user", True)
    assert user.email != "new@example.com"
    assert (user.subscription_plan, user.subscription_status) == ("free", "none")


def test_patch_with_blank_values_clears_them(api, user):
    response = api.as_user(user).patch(URL, {"full_name": "", "avatar_url": None})

    assert response.status_code == 200
    assert response.json()["full_name"] is None
    assert response.json()["avatar_url"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"full_name": "x" * 256}, "full_name"),
        ({"avatar_url": "not a url"}, "avatar_url"),
        ({"avatar_url": "https://example.com/" + "a" * 2048}, "avatar_url"),
        ({"full_name": "ok", "avatar_url": "ftp//bad"}, "avatar_url"),
        ({"full_name": 12, "avatar_url": "ftp//bad"}, "full_name"),  # API.md §8: no coercion
    ],
)
def test_patch_rejects_invalid_fields_with_422(api, user, body, field):
    response = api.as_user(user).patch(URL, body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["field"] == field
    assert {"field", "message", "code"} <= set(error["details"]["errors"][0])


def test_patch_with_a_json_array_is_a_validation_error(api, user):
    response = api.as_user(user).patch(URL, [1, 2], format="json")

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "body"


def test_delete_deactivates_now_and_erases_personal_data(
    api, user, django_capture_on_commit_callbacks
):
    user.avatar_url = "https://cdn.example.com/a.png"
    user.save()
    client = api.as_user(user)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.delete(URL)

    assert response.status_code == 204
    assert response.content == b""
    user.refresh_from_db()
    assert user.is_active is False
    assert (user.email, user.full_name, user.avatar_url) == ("", None, None)
    assert user.erased_at is not None
    again = client.get(URL)
    assert again.status_code == 403
    assert again.json()["error"]["code"] == "AUTHORIZATION_ERROR"


def test_erasure_runs_after_commit_only(api, user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api.as_user(user).delete(URL)

    user.refresh_from_db()
    assert user.is_active is False
    assert user.email != ""  # not erased until the transaction commits and the task runs

    for callback in callbacks:
        callback()

    user.refresh_from_db()
    assert user.email == ""


def test_users_me_requires_a_token(api, db):
    response = api.get(URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"
    assert User.objects.count() == 0
