"""API.md §8: any body the server cannot parse is a 400 BAD_REQUEST envelope, never a 500.

Sent through the real stack to DRF routes of every kind (authenticated app routes and a public
one), with the headers every response carries.
"""

from __future__ import annotations

import pytest

from projects.models import Project

pytestmark = pytest.mark.django_db

PROJECTS = "/api/v1/app/projects"
ME = "/api/v1/app/users/me"
CHAT = "/api/v1/app/ai/chat"


def deep(levels: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * levels + closer * levels).encode()


UNPARSABLE = {
    "broken": b'{"name": ',
    "trailing garbage": b'{"name": "x"} x',
    "single quotes": b"{'name': 'x'}",
    "nan": b'{"name": NaN}',
    "deep arrays": b'{"name": "x", "description": ' + deep(100_000) + b"}",
    "deep objects": b'{"a":' * 5000 + b"1" + b"}" * 5000,
    "just deeper than allowed": b'{"name": "x", "d": ' + deep(40) + b"}",
    "invalid utf-8": b'{"name": "\xff\xfe"}',
    "lone surrogate": b'{"name": "\\ud800"}',
    "overlong utf-8": b'{"name": "\xc0\xaf"}',
    "utf-16 bom": "\ufeff{}".encode("utf-16"),
}


@pytest.mark.parametrize("body", UNPARSABLE.values(), ids=UNPARSABLE.keys())
@pytest.mark.parametrize(("method", "path"), [("POST", PROJECTS), ("PATCH", ME), ("POST", CHAT)])
def test_an_unparsable_body_is_400(api, user, method, path, body):
    response = api.as_user(user).generic(method, path, body, content_type="application/json")

    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "BAD_REQUEST"
    assert set(error) == {"code", "message", "details"}
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Request-ID"]
    assert not Project.objects.exists()


@pytest.mark.parametrize("charset", ["klingon", "utf-99", "latin-99"])
def test_an_unknown_charset_is_400(api, user, charset):
    response = api.as_user(user).generic(
        "POST", PROJECTS, b'{"name": "x"}', content_type=f"application/json; charset={charset}"
    )

    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "BAD_REQUEST"


def test_a_body_that_is_not_valid_in_its_declared_charset_is_400(api, user):
    response = api.as_user(user).generic(
        "POST", PROJECTS, b'{"name": "\xff"}', content_type="application/json; charset=ascii"
    )

    assert response.status_code == 400


def test_a_declared_charset_is_honoured(api, user):
    body = '{"name": "café"}'.encode("latin-1")

    response = api.as_user(user).generic(
        "POST", PROJECTS, body, content_type="application/json; charset=latin-1"
    )

    assert response.status_code == 201, response.content
    assert response.json()["name"] == "café"


def test_nesting_within_the_limit_is_parsed(api, user):
    body = b'{"name": "x", "unknown": ' + deep(30) + b"}"

    response = api.as_user(user).generic("POST", PROJECTS, body, content_type="application/json")

    assert response.status_code == 201, response.content


def test_a_json_body_that_is_not_an_object_is_422(api, user):
    response = api.as_user(user).generic("POST", PROJECTS, b"[1]", content_type="application/json")

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "body"
