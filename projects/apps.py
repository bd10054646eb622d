from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "projects"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import personal_data
        from projects.selectors import project_list
        from projects.services import projects_erase

        personal_data.register(
            "projects",
            export=lambda user: list(project_list(owner=user)),
            erase=lambda user_id: projects_erase(owner_id=user_id),
        )
