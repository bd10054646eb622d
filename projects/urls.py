from django.urls import path

from projects.views import ProjectDetailView, ProjectListCreateView

urlpatterns = [
    path("projects", ProjectListCreateView.as_view(), name="projects"),
    path("projects/<str:project_id>", ProjectDetailView.as_view(), name="project-detail"),
]
