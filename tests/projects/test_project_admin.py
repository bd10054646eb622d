"""Staff see deleted projects in the admin and can restore them."""

from __future__ import annotations

import pytest

from accounts.models import User
from projects.models import Project
from tests.factories import ProjectFactory

CHANGELIST = "/admin/projects/project/"

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client):
    client.force_login(User.objects.create_superuser("staff@example.com", "long-password-123"))
    return client


def test_changelist_shows_owner_and_filters_deleted(staff_client):
    live = ProjectFactory(name="Live one")
    gone = ProjectFactory(name="Gone one")
    gone.soft_delete()

    everything = staff_client.get(CHANGELIST)
    deleted = staff_client.get(CHANGELIST, {"deleted": "yes"})

    assert everything.status_code == 200
    assert b"Live one" in everything.content and b"Gone one" in everything.content
    assert live.owner.email.encode() in everything.content
    assert b"Gone one" in deleted.content and b"Live one" not in deleted.content


def test_search_by_owner_email(staff_client):
    project = ProjectFactory(name="Searchable")

    response = staff_client.get(CHANGELIST, {"q": project.owner.email})

    assert b"Searchable" in response.content


def test_restore_action_brings_a_project_back(staff_client, api):
    project = ProjectFactory()
    project.soft_delete()

    staff_client.post(CHANGELIST, {"action": "restore_projects", "_selected_action": [project.pk]})

    assert Project.objects.filter(pk=project.pk).exists()
    response = api.as_user(project.owner).get(f"/api/v1/app/projects/{project.pk}")
    assert response.status_code == 200
