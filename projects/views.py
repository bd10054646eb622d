"""/api/v1/app/projects."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.authentication import authenticated_user
from config.api import validated
from config.pagination import PAGE_PARAMETERS, page_of, paginate
from projects.selectors import PROJECT_LIST, project_get, project_list
from projects.serializers import ProjectInput, ProjectOutput, ProjectUpdateInput
from projects.services import project_create, project_delete, project_update


class ProjectListCreateView(APIView):
    @extend_schema(
        tags=["projects"],
        summary="List my projects",
        operation_id="projects_list",
        parameters=[
            *PAGE_PARAMETERS,
            OpenApiParameter("search", str, description="Case-insensitive substring of the name."),
        ],
        responses=page_of(ProjectOutput),
    )
    def get(self, request: Request) -> Response:
        owner, search = authenticated_user(request), request.query_params.get("search")
        if search:
            page = paginate(request, project_list(owner=owner, search=search))
        else:
            page = PROJECT_LIST.page(request, owner_id=owner.pk)
        return page.response(ProjectOutput)

    @extend_schema(
        tags=["projects"],
        summary="Create a project",
        request=ProjectInput,
        responses={201: ProjectOutput},
    )
    def post(self, request: Request) -> Response:
        data = validated(ProjectInput, request.data)
        project = project_create(owner=authenticated_user(request), **data)
        return Response(ProjectOutput(project).data, status=201)


class ProjectDetailView(APIView):
    @extend_schema(tags=["projects"], summary="Get a project", responses=ProjectOutput)
    def get(self, request: Request, project_id: str) -> Response:
        project = project_get(owner=authenticated_user(request), project_id=project_id)
        return Response(ProjectOutput(project).data)

    @extend_schema(
        tags=["projects"],
        summary="Update a project",
        request=ProjectUpdateInput,
        responses=ProjectOutput,
    )
    def patch(self, request: Request, project_id: str) -> Response:
        project = project_get(owner=authenticated_user(request), project_id=project_id)
        data = validated(ProjectUpdateInput, request.data)
        return Response(ProjectOutput(project_update(project=project, **data)).data)

    @extend_schema(tags=["projects"], summary="Delete a project", responses={204: None})
    def delete(self, request: Request, project_id: str) -> Response:
        project = project_get(owner=authenticated_user(request), project_id=project_id)
        project_delete(project=project)
        return Response(status=204)
