"""/api/v1/app/projects end to end."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from projects.models import Project
from tests.factories import ProjectFactory

LIST = "/api/v1/app/projects"

pytestmark = pytest.mark.django_db


def detail(project_id) -> str:
    return f"{LIST}/{project_id}"


def assert_not_found(response, project_id):
    assert response.status_code == 404, response.content
    error = response.json()["error"]
    assert error["code"] == "NOT_FOUND"
    assert error["details"] == {"resource": "Project", "id": str(project_id)}


# --- create -----------------------------------------------------------------------------------


def test_create_returns_201_and_the_project(api, user):
    response = api.as_user(user).post(LIST, {"name": "  Apollo ", "description": "To the moon"})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "description", "owner_id", "created_at", "updated_at"}
    assert body["name"] == "Apollo"
    assert body["owner_id"] == user.pk
    assert body["created_at"].endswith("Z")
    uuid.UUID(body["id"])
    assert Project.objects.get(pk=body["id"]).owner == user


def test_create_ignores_owner_and_id_in_the_body(api, user, other_user):
    response = api.as_user(user).post(
        LIST, {"name": "Mine", "owner_id": other_user.pk, "id": str(uuid.uuid4())}
    )

    assert response.status_code == 201
    assert response.json()["owner_id"] == user.pk


def test_description_is_optional_and_nullable(api, user):
    client = api.as_user(user)

    assert client.post(LIST, {"name": "a"}).json()["description"] is None
    assert client.post(LIST, {"name": "b", "description": None}).json()["description"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 256}, "name"),
        ({"name": "ok", "description": "d" * 2001}, "description"),
        ({"name": ["list"]}, "name"),
    ],
)
def test_create_validation_errors_are_422(api, user, body, field):
    response = api.as_user(user).post(LIST, body)

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == field
    assert Project.objects.count() == 0


def test_limits_are_inclusive(api, user):
    response = api.as_user(user).post(LIST, {"name": "n" * 255, "description": "d" * 2000})

    assert response.status_code == 201


# --- list -------------------------------------------------------------------------------------


def test_list_is_paginated_newest_first_with_a_true_total(api, user):
    now = timezone.now()
    for index in range(25):
        ProjectFactory(owner=user, name=f"p{index}", created_at=now + timedelta(seconds=index))

    client = api.as_user(user)
    first = client.get(LIST).json()
    second = client.get(LIST, {"skip": 20, "limit": 10}).json()

    assert (first["total"], first["skip"], first["limit"]) == (25, 0, 20)
    assert [item["name"] for item in first["items"]][:3] == ["p24", "p23", "p22"]
    assert len(first["items"]) == 20
    assert (second["total"], second["skip"], second["limit"]) == (25, 20, 10)
    assert [item["name"] for item in second["items"]] == ["p4", "p3", "p2", "p1", "p0"]


def test_total_is_true_past_the_end(api, user):
    ProjectFactory.create_batch(3, owner=user)

    body = api.as_user(user).get(LIST, {"skip": 50}).json()

    assert (body["items"], body["total"]) == ([], 3)


def test_empty_list(api, user):
    assert api.as_user(user).get(LIST).json() == {"items": [], "total": 0, "skip": 0, "limit": 20}


def test_list_shows_only_my_live_projects(api, user, other_user):
    mine = ProjectFactory(owner=user)
    ProjectFactory(owner=other_user)
    ProjectFactory(owner=user).soft_delete()

    body = api.as_user(user).get(LIST).json()

    assert [item["id"] for item in body["items"]] == [str(mine.pk)]
    assert body["total"] == 1


@pytest.mark.parametrize(
    "query",
    [
        {"limit": 0},
        {"limit": 101},
        {"skip": -1},
        {"skip": 2**63},
        {"limit": "ten"},
        {"skip": "1.5"},
    ],
)
def test_out_of_range_paging_is_422(api, user, query):
    response = api.as_user(user).get(LIST, query)

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == next(iter(query))


def test_search_is_a_case_insensitive_substring(api, user):
    ProjectFactory(owner=user, name="Marketing Site")
    ProjectFactory(owner=user, name="Internal tools")
    ProjectFactory(owner=user, name="SITE reliability")

    body = api.as_user(user).get(LIST, {"search": "site"}).json()

    assert sorted(item["name"] for item in body["items"]) == ["Marketing Site", "SITE reliability"]
    assert body["total"] == 2


@pytest.mark.parametrize(("term", "expected"), [("%", ["100% done"]), ("_", ["snake_case"])])
def test_search_wildcards_are_literal(api, user, term, expected):
    for name in ("100% done", "snake_case", "plain"):
        ProjectFactory(owner=user, name=name)

    body = api.as_user(user).get(LIST, {"search": term}).json()

    assert [item["name"] for item in body["items"]] == expected


def test_list_runs_constant_queries(api, user, django_assert_max_num_queries):
    ProjectFactory.create_batch(50, owner=user)
    client = api.as_user(user)
    client.get(LIST)  # the first request of the hour also records the login

    for limit in (1, 20, 100):
        with django_assert_max_num_queries(3):
            response = client.get(LIST, {"limit": limit})
        assert response.status_code == 200
        assert len(response.json()["items"]) == min(limit, 50)


# --- detail -----------------------------------------------------------------------------------


def test_get_one(api, user):
    project = ProjectFactory(owner=user)

    response = api.as_user(user).get(detail(project.pk))

    assert response.status_code == 200
    assert response.json()["id"] == str(project.pk)


def test_someone_elses_project_is_404_not_403(api, user, other_user):
    project = ProjectFactory(owner=other_user)
    client = api.as_user(user)

    assert_not_found(client.get(detail(project.pk)), project.pk)
    assert_not_found(client.patch(detail(project.pk), {"name": "hijack"}), project.pk)
    assert_not_found(client.delete(detail(project.pk)), project.pk)
    project.refresh_from_db()
    assert project.name != "hijack" and not project.is_deleted


@pytest.mark.parametrize(
    "bad_id", ["not-a-uuid", "1", "6c8461dd-eb17-46be-916a-67cf37bd1d26", "%20"]
)
def test_missing_or_malformed_ids_are_404(api, user, bad_id):
    assert_not_found(api.as_user(user).get(detail(bad_id)), bad_id.replace("%20", " "))


def test_patch_changes_only_given_fields(api, user):
    project = ProjectFactory(owner=user, name="Old", description="keep me")

    response = api.as_user(user).patch(detail(project.pk), {"name": " New "})

    assert response.status_code == 200
    assert response.json()["name"] == "New"
    assert response.json()["description"] == "keep me"
    assert response.json()["updated_at"] >= response.json()["created_at"]


def test_patch_can_clear_the_description(api, user):
    project = ProjectFactory(owner=user, description="text")

    response = api.as_user(user).patch(detail(project.pk), {"description": None})

    assert response.json()["description"] is None


@pytest.mark.parametrize("body", [{"name": None}, {"name": ""}, {"name": "x" * 256}])
def test_patch_rejects_a_null_or_blank_name(api, user, body):
    project = ProjectFactory(owner=user, name="Stays")

    response = api.as_user(user).patch(detail(project.pk), body)

    assert response.status_code == 422
    assert response.json()["error"]["details"]["field"] == "name"
    project.refresh_from_db()
    assert project.name == "Stays"


def test_patch_ignores_owner_id(api, user, other_user):
    project = ProjectFactory(owner=user)

    api.as_user(user).patch(detail(project.pk), {"owner_id": other_user.pk})

    project.refresh_from_db()
    assert project.owner == user


def test_delete_is_a_soft_delete(api, user):
    project = ProjectFactory(owner=user)
    client = api.as_user(user)

    response = client.delete(detail(project.pk))

    assert response.status_code == 204
    assert response.content == b""
    assert_not_found(client.get(detail(project.pk)), project.pk)
    assert_not_found(client.delete(detail(project.pk)), project.pk)
    assert Project.all_objects.get(pk=project.pk).deleted_at is not None


def test_put_is_not_allowed(api, user):
    project = ProjectFactory(owner=user)

    response = api.as_user(user).put(detail(project.pk), {"name": "x"})

    assert response.status_code == 405


def test_projects_require_authentication(api):
    assert api.get(LIST).status_code == 401
    assert api.post(LIST, {"name": "x"}).status_code == 401


def test_account_erasure_removes_projects(api, user, django_capture_on_commit_callbacks):
    ProjectFactory.create_batch(2, owner=user)
    ProjectFactory(owner=user).soft_delete()

    with django_capture_on_commit_callbacks(execute=True):
        api.as_user(user).delete("/api/v1/app/users/me")

    assert not Project.all_objects.filter(owner=user).exists()
