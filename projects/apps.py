from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "projects"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts import personal_data
        from projects.events import CHANNEL_KIND
        from projects.selectors import project_list, project_readable
        from projects.services import projects_erase
        from realtime import channels as realtime_channels

        personal_data.register(
            "projects",
            export=lambda user: list(project_list(owner=user)),
            erase=lambda user_id: projects_erase(owner_id=user_id),
        )
        realtime_channels.register(
            CHANNEL_KIND,
            authorize=lambda user, project_id: project_readable(user=user, project_id=project_id),
        )
