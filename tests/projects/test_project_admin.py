"""Staff see deleted projects in the admin and can restore them."""

from __future__ import annotations

import pytest

from projects.models import Project
from tests.factories import ProjectFactory

CHANGELIST = "/admin/projects/project/"

pytestmark = pytest.mark.django_db


def test_changelist_shows_owner_and_filters_deleted(client, staff):
    live = ProjectFactory(name="Live one")
    gone = ProjectFactory(name="Gone one")
    gone.soft_delete()

    everything = client.get(CHANGELIST)
    deleted = client.get(CHANGELIST, {"deleted": "yes"})

    assert everything.status_code == 200
    assert b"Live one" in everything.content and b"Gone one" in everything.content
    assert live.owner.email.encode() in everything.content
    assert b"Gone one" in deleted.content and b"Live one" not in deleted.content


def test_search_by_owner_email(client, staff):
    project = ProjectFactory(name="Searchable")

    response = client.get(CHANGELIST, {"q": project.owner.email})

    assert b"Searchable" in response.content


def test_restore_action_brings_a_project_back(client, staff, api):
    project = ProjectFactory()
    project.soft_delete()

    client.post(CHANGELIST, {"action": "restore_projects", "_selected_action": [project.pk]})

    assert Project.objects.filter(pk=project.pk).exists()
    response = api.as_user(project.owner).get(f"/api/v1/app/projects/{project.pk}")
    assert response.status_code == 200
