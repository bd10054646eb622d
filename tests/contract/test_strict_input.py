"""API.md §8: no coercion of JSON types, no NUL characters, strict query parameters.

Each request goes through the real stack (DRF test client, real token); each refusal is the 422
envelope naming the field, and nothing is stored.
"""

from __future__ import annotations

import pytest

from files.models import File
from projects.models import Project

pytestmark = pytest.mark.django_db

PROJECTS = "/api/v1/app/projects"
ME = "/api/v1/app/users/me"
UPLOAD_URL = "/api/v1/app/files/upload-url"
CONFIRM = "/api/v1/app/files/confirm"
CHAT = "/api/v1/app/ai/chat"
ROUTED = "/api/v1/app/ai/chat/routed"
COMPLETIONS = "/api/v1/app/ai/completions"
CHECKOUT = "/api/v1/app/billing/checkout"
IAP_APPLE = "/api/v1/app/billing/iap/apple"
IAP_GOOGLE = "/api/v1/app/billing/iap/google"


def assert_refused(response, field: str, code: str = "invalid_type") -> None:
    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["field"] == field, error
    assert code in {item["code"] for item in error["details"]["errors"]}, error


# --- strings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [42, 4.2, True, False, ["x"], {"x": "y"}])
def test_a_string_field_accepts_only_a_json_string(api, user, value):
    response = api.as_user(user).post(PROJECTS, {"name": value}, format="json")

    assert_refused(response, "name")
    assert not Project.objects.exists()


@pytest.mark.parametrize("value", [0, 1.5, True, []])
def test_an_optional_string_field_refuses_other_types(api, user, value):
    response = api.as_user(user).post(PROJECTS, {"name": "ok", "description": value}, format="json")

    assert_refused(response, "description")


def test_null_stays_allowed_where_the_field_allows_it(api, user):
    response = api.as_user(user).post(PROJECTS, {"name": "ok", "description": None}, format="json")

    assert response.status_code == 201
    assert response.json()["description"] is None


def test_a_patch_is_as_strict_as_a_create(api, user):
    project = api.as_user(user).post(PROJECTS, {"name": "kept"}, format="json").json()

    response = api.patch(f"{PROJECTS}/{project['id']}", {"name": 7}, format="json")

    assert_refused(response, "name")
    assert Project.objects.get().name == "kept"


def test_user_profile_fields_are_strings(api, user):
    response = api.as_user(user).patch(ME, {"full_name": 12}, format="json")

    assert_refused(response, "full_name")


def test_url_and_choice_fields_are_strings(api, user):
    body = {"plan": 1, "success_url": ["https://a"], "cancel_url": "https://a.example/x"}

    response = api.as_user(user).post(CHECKOUT, body, format="json")

    assert response.status_code == 422
    fields = {item["field"] for item in response.json()["error"]["details"]["errors"]}
    assert {"plan", "success_url"} <= fields


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (IAP_APPLE, {"signed_transaction": 1}, "signed_transaction"),
        (IAP_GOOGLE, {"purchase_token": 1, "subscription_id": "pro"}, "purchase_token"),
        (CONFIRM, {"file_id": 5}, "file_id"),
        (ROUTED, {"prompt": "hi", "complexity": 1}, "complexity"),
        (CHAT, {"prompt": "hi", "system": 0}, "system"),
    ],
)
def test_every_app_refuses_non_strings(api, user, url, body, field):
    response = api.as_user(user).post(url, body, format="json")

    assert_refused(response, field)


# --- integers, floats, booleans, lists --------------------------------------------------------


@pytest.mark.parametrize("value", ["5", True, 5.0, 5.5, [5], None])
def test_an_integer_field_accepts_only_a_json_integer(api, user, value):
    body = {"filename": "a.txt", "content_type": "text/plain", "size": value}

    response = api.as_user(user).post(UPLOAD_URL, body, format="json")

    assert response.status_code == 422, response.content
    assert response.json()["error"]["details"]["field"] == "size"
    assert not File.objects.exists()


@pytest.mark.parametrize("value", ["5", True])
def test_max_tokens_is_a_json_integer(api, user, value):
    response = api.as_user(user).post(CHAT, {"prompt": "hi", "max_tokens": value}, format="json")

    assert_refused(response, "max_tokens")


@pytest.mark.parametrize("value", ["0.5", True, False, [1]])
def test_a_number_field_accepts_only_a_json_number(api, user, value):
    response = api.as_user(user).post(CHAT, {"prompt": "hi", "temperature": value}, format="json")

    assert_refused(response, "temperature")


@pytest.mark.parametrize("value", [1, 0.5])
def test_a_number_field_takes_integers_and_floats(api, user, value):
    response = api.as_user(user).post(CHAT, {"prompt": "hi", "temperature": value}, format="json")

    assert response.status_code == 200, response.content


@pytest.mark.parametrize("value", [0, 1, "true", "false", "yes", [], {}])
def test_a_boolean_field_accepts_only_true_or_false(api, user, value):
    response = api.as_user(user).post(CHAT, {"prompt": "hi", "stream": value}, format="json")

    assert_refused(response, "stream")


def test_stream_false_still_answers_json(api, user):
    response = api.as_user(user).post(CHAT, {"prompt": "hi", "stream": False}, format="json")

    assert response.status_code == 200
    assert response.json()["content"]


@pytest.mark.parametrize("value", ["hello", {"role": "user", "content": "hi"}, 3])
def test_a_list_field_accepts_only_a_json_array(api, user, value):
    response = api.as_user(user).post(COMPLETIONS, {"messages": value}, format="json")

    assert_refused(response, "messages")


def test_nested_fields_are_strict_and_named_by_their_path(api, user):
    body = {"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": 5}]}

    response = api.as_user(user).post(COMPLETIONS, body, format="json")

    assert_refused(response, "messages.1.content")


# --- NUL characters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (PROJECTS, {"name": "a\u0000b"}, "name"),
        (PROJECTS, {"name": "ok", "description": "\u0000"}, "description"),
        (CHAT, {"prompt": "hi\u0000"}, "prompt"),
        (COMPLETIONS, {"messages": [{"role": "user", "content": "\u0000"}]}, "messages.0.content"),
        (
            UPLOAD_URL,
            {"filename": "a\u0000.txt", "content_type": "text/plain", "size": 1},
            "filename",
        ),
    ],
)
def test_a_nul_character_in_a_body_string_is_422(api, user, url, body, field):
    response = api.as_user(user).post(url, body, format="json")

    assert response.status_code == 422, response.content
    assert response.json()["error"]["details"]["field"] == field
    assert not Project.objects.exists() and not File.objects.exists()


@pytest.mark.parametrize(
    "query",
    ["search=%00", "search=a%00b", "skip=0%00", "se%00arch=x", "status=%00"],
)
@pytest.mark.parametrize("path", [PROJECTS, "/api/v1/app/files"])
def test_a_nul_character_in_a_query_parameter_is_422(api, user, path, query):
    response = api.as_user(user).get(f"{path}?{query}")

    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["errors"][0]["code"] == "null_characters_not_allowed"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_query_nul_check_names_the_parameter(api, user):
    response = api.as_user(user).get(f"{PROJECTS}?search=%00")

    assert response.json()["error"]["details"]["field"] == "search"


def test_a_nul_character_on_a_public_route_is_422_too(api):
    response = api.get("/api/v1/public/storage/download?token=%00")

    assert response.status_code == 422


# --- query parameters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "limit=5.0",
        "limit=%205",
        "limit=5_0",
        "limit=%D9%A5",  # an Arabic-Indic digit five
        "limit=0x10",
        "limit=",
        "skip=-1",
        "skip=-499",
        "limit=-2",
        "limit=101",
        "skip=1e3",
    ],
)
def test_page_parameters_are_plain_integers_in_range(api, user, query):
    response = api.as_user(user).get(f"{PROJECTS}?{query}")

    assert response.status_code == 422, (query, response.content)
    assert response.json()["error"]["details"]["field"] in {"skip", "limit"}


@pytest.mark.parametrize("limit", ["abc", "5.5", "5.0", "%205", "0", "101", "-2", ""])
def test_invoice_limit_is_validated(api, user, limit):
    response = api.as_user(user).get(f"/api/v1/app/billing/invoices?limit={limit}")

    assert_refused(response, "limit", code=response.json()["error"]["details"]["errors"][0]["code"])


def test_invoice_limit_in_range_is_fine(api, user):
    response = api.as_user(user).get("/api/v1/app/billing/invoices?limit=5")

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.parametrize("value", ["yes", "1", "on", "True", ""])
def test_a_boolean_query_parameter_is_true_or_false(api, user, value):
    response = api.as_user(user).post(f"/api/v1/app/billing/cancel?immediate={value}")

    assert_refused(response, "immediate")


@pytest.mark.parametrize("days", ["7.0", " 7", "seven", "0", "366"])
def test_usage_days_is_a_plain_integer_in_range(api, user, days):
    response = api.as_user(user).get(f"/api/v1/app/usage/summary?days={days}")

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "days"


@pytest.mark.parametrize(
    "url",
    [
        "https://k.example:4529/\\#(",  # a backslash: not an RFC 3986 URI
        "https://" + "a" * 64 + ".com",  # a DNS label is at most 63 characters
        "https://a.com/%zz",
        "ftp://a.com/x",
        "javascript:alert(1)",
    ],
)
def test_a_url_field_takes_what_the_schema_declares(api, user, url):
    response = api.as_user(user).patch(ME, {"avatar_url": url}, format="json")

    assert response.status_code == 422, response.content
    assert response.json()["error"]["details"]["field"] == "avatar_url"


def test_a_plain_https_url_is_accepted(api, user):
    url = "https://cdn.example.com/me.png?size=64&v=%20#top"

    response = api.as_user(user).patch(ME, {"avatar_url": url}, format="json")

    assert response.status_code == 200
    assert response.json()["avatar_url"] == url
