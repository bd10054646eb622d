"""Admin building blocks, and the staff console for background work: task results (with "Run
again" for failed tasks).

Periodic tasks are django-celery-beat's own admin (pause, change, run once). Task results are
django-celery-results' admin with one action added; results exist only for tasks a worker ran
(none when tasks run eagerly without a broker) and are deleted after CELERY_RESULT_EXPIRES_DAYS.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

# Imported first, so that its TaskResult admin is registered before it is replaced below.
from django_celery_results.admin import TaskResultAdmin as BaseTaskResultAdmin
from django_celery_results.models import TaskResult

from config.celery import task_results_rerun


class NoEditAdmin(admin.ModelAdmin):
    """A model staff may look at, act on through actions and delete, but not add or edit: rows
    the system writes (an outbox, exports)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyAdmin(NoEditAdmin):
    """A model staff may look at (and act on through actions) but not add, edit or delete: a
    record of what happened."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


admin.site.unregister(TaskResult)


@admin.register(TaskResult)
class TaskResultAdmin(BaseTaskResultAdmin):
    """Task results, newest first, with failed tasks sendable again."""

    ordering = ("-date_done",)
    actions = ("run_again",)

    @admin.action(description="Run failed tasks again", permissions=("rerun",))
    def run_again(self, request: HttpRequest, queryset: QuerySet[TaskResult]) -> None:
        """Send each selected failed task again by name with its stored arguments."""
        outcome = task_results_rerun(results=queryset)
        if outcome.sent:
            self.message_user(
                request,
                f"{len(outcome.sent)} task(s) sent again: {', '.join(outcome.sent)}.",
                messages.SUCCESS,
            )
        for task_id, reason in outcome.skipped.items():
            self.message_user(request, f"Task {task_id} was not sent: {reason}.", messages.WARNING)

    def has_rerun_permission(self, request: HttpRequest) -> bool:
        """Running tasks again takes the right to change task results."""
        return request.user.has_perm("django_celery_results.change_taskresult")
