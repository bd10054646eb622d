"""Every change made through the admin, recorded in the audit log.

`ConsoleAdminSite.register` passes every model admin (the project's, dj-stripe's, axes', celery
beat's...) through `audited_admin_class`, which returns a subclass recording, as the signed-in
staff member with the request's address and user agent:

- `admin.add`, `admin.change` and `admin.delete` of each object, with the changed fields'
  values before and after (`changes`; secrets masked by `audit_record`). It hooks the admin's
  own log points (`log_addition`, `log_change`, `log_deletions`), so every path is covered: the
  change form, list_editable, the password page, the delete page and the bulk "delete selected"
  action (one event per object);
- the objects added, changed or deleted by inline formsets, each as its own `admin.*` event;
- each admin action run: one event per selected object, `admin.action` with the action's name,
  or the domain event of actions with one (`DOMAIN_ACTIONS`: a webhook replay, a task re-run).
  An action that only shows an intermediate page (a confirmation) is not recorded until it runs;
  "delete selected" is recorded as its deletions.

The target of an event is `<app_label>.<model_name>` and the object's primary key. Every POST to
a model admin's pages runs in one transaction with its events (the admin's own add, change and
delete views already do), and inside an `audit_context`, so a service called by the admin that
records a domain event (an entitlement changed by staff) names the staff member too.

Each change page links to its object's history in the audit log ("History (audit log)",
templates/admin/change_form.html): events whose target is the object under its label or, as
domain events name it, its model name (`user`, `entitlement`).
"""

from __future__ import annotations

import datetime
import decimal
import functools
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from django.contrib.admin.utils import unquote
from django.core.exceptions import FieldDoesNotExist
from django.db import models, router, transaction
from django.db.models.fields.files import FieldFile
from django.forms import BaseModelFormSet, ModelForm
from django.http import HttpRequest, HttpResponseBase
from django.template.response import SimpleTemplateResponse
from django.urls import URLPattern, reverse
from django.utils.http import urlencode

from audit.models import AuditEvent
from audit.services import audit_context, audit_record, audit_record_many

STAFF = AuditEvent.ActorType.STAFF
# Admin actions recorded as a domain event rather than `admin.action`: (model label, action).
DOMAIN_ACTIONS: Mapping[tuple[str, str], str] = {
    ("webhooks.webhookevent", "process_again"): "webhook.replay",
    ("django_celery_results.taskresult", "run_again"): "task.rerun",
}
# Actions recorded by what they do instead: "delete selected" as one `admin.delete` per object.
UNRECORDED_ACTIONS = frozenset({"delete_selected"})
# Longer text values are cut in the log (a note, a JSON document): the log says what changed.
VALUE_MAX_LENGTH = 1000

_cache: dict[type[Any], type[Any]] = {}


def audited_admin_class(admin_class: type[Any]) -> type[Any]:
    """`admin_class` with its saves, deletes and actions recorded in the audit log.

    The subclass is made once per class (and an already audited class is returned as is).
    """
    if issubclass(admin_class, AuditedAdminMixin):
        return admin_class
    if admin_class not in _cache:
        _cache[admin_class] = type(
            admin_class.__name__,
            (AuditedAdminMixin, admin_class),
            {"__module__": admin_class.__module__, "__qualname__": admin_class.__qualname__},
        )
    return _cache[admin_class]


def plain(value: Any) -> Any:
    """A value as the audit log keeps it (JSON): objects as their primary key, collections as
    lists of those, files as their name, dates as ISO 8601 (times in UTC), long text cut."""
    if isinstance(value, models.Model):
        return plain(value.pk)
    if isinstance(value, FieldFile):
        return value.name or None
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value.astimezone(datetime.UTC).isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, str):
        return value if len(value) <= VALUE_MAX_LENGTH else value[:VALUE_MAX_LENGTH] + "…"
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, models.QuerySet | list | tuple | set | frozenset):
        return sorted((plain(item) for item in value), key=str)
    return plain(str(value))


def _stored_values(obj: models.Model) -> dict[str, Any]:
    """The object's concrete fields as loaded (before the form touches it)."""
    return {field.name: plain(field.value_from_object(obj)) for field in obj._meta.concrete_fields}


def _model_field(obj: models.Model, name: str) -> Any:
    try:
        return obj._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def form_changes(
    form: ModelForm[Any],
    obj: models.Model,
    *,
    adding: bool,
    stored: Mapping[str, Any] | None = None,
) -> dict[str, tuple[Any, Any]]:
    """What a saved form changed on `obj`: each changed field's value before and after.

    Before: the stored value when known (`stored`), else the form's initial value (None when
    adding). After: the saved object's value; for many-to-many and non-model fields, the
    form's cleaned value.
    """
    changes: dict[str, tuple[Any, Any]] = {}
    for name in form.changed_data:
        field = _model_field(obj, name)
        if adding:
            before = None
        elif stored is not None and name in stored:
            before = stored[name]
        else:
            before = plain(form.initial.get(name))
        if field is not None and field.concrete and not field.many_to_many:
            after = plain(field.value_from_object(obj))
        else:
            after = plain(form.cleaned_data.get(name))
        changes[name] = (before, after)
    return changes


def _stored_changes(obj: models.Model, stored: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The editable fields that differ from `stored` (a change made without a model form: the
    password page)."""
    changes = {}
    for field in obj._meta.concrete_fields:
        if field.editable and field.name in stored:
            after = plain(field.value_from_object(obj))
            if after != stored[field.name]:
                changes[field.name] = (stored[field.name], after)
    return changes


def audit_history_url(*, target_types: tuple[str, ...], target_id: Any) -> str:
    """The audit log's list of the events about one object (under any of `target_types`)."""
    query = urlencode({"target_type__in": ",".join(target_types), "target_id": str(target_id)})
    return f"{reverse('admin:audit_auditevent_changelist')}?{query}"


def _label(obj_or_model: Any) -> str:
    return str(obj_or_model._meta.label_lower)


def _is_staff(request: HttpRequest) -> bool:
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_active and user.is_staff)


class AuditedAdminMixin:
    """Records a model admin's writes in the audit log (see the module's docstring)."""

    model: type[models.Model]

    # --- Every request: one transaction per POST, and the acting staff member -----------------

    def get_urls(self) -> list[Any]:
        urls: list[Any] = super().get_urls()  # type: ignore[misc]
        for pattern in urls:
            if isinstance(pattern, URLPattern):
                pattern.callback = self._audited_view(pattern.callback)
        return urls

    def _audited_view(self, view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def audited(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            if not _is_staff(request):
                return view(request, *args, **kwargs)
            with audit_context(actor=request.user, actor_type=STAFF, request=request):
                if request.method != "POST":
                    return view(request, *args, **kwargs)
                with transaction.atomic(using=router.db_for_write(self.model)):
                    return view(request, *args, **kwargs)

        return audited

    # --- Objects: add, change, delete -------------------------------------------------------

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        obj = super().get_object(request, object_id, from_field)  # type: ignore[misc]
        if obj is not None and request.method == "POST":
            obj.__dict__["_audit_stored"] = _stored_values(obj)
        return obj

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)  # type: ignore[misc]
        obj.__dict__["_audit_form"] = form

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        form = obj.__dict__.pop("_audit_form", None)
        changes = form_changes(form, obj, adding=True) if form is not None else {}
        self._record(request, "admin.add", obj, changes)
        return super().log_addition(request, obj, message)  # type: ignore[misc]

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        form = obj.__dict__.pop("_audit_form", None)
        stored = obj.__dict__.pop("_audit_stored", None)
        if form is not None:
            changes = form_changes(form, obj, adding=False, stored=stored)
        else:
            changes = _stored_changes(obj, stored or {})
        self._record(request, "admin.change", obj, changes)
        return super().log_change(request, obj, message)  # type: ignore[misc]

    def log_deletions(self, request: HttpRequest, queryset: Any) -> Any:
        audit_record_many(
            action="admin.delete",
            targets=[(_label(obj), obj.pk, {"object": (str(obj), None)}) for obj in queryset],
            actor=request.user,
            actor_type=STAFF,
            request=request,
        )
        return super().log_deletions(request, queryset)  # type: ignore[misc]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        if not isinstance(formset, BaseModelFormSet):
            super().save_formset(request, form, formset, change)  # type: ignore[misc]
            return
        # What the rows were, read before they go: (primary key, how they read).
        deleted = [
            (child.instance.pk, str(child.instance))
            for child in formset.deleted_forms
            if child.instance.pk is not None
        ]
        deleted_forms = set(map(id, formset.deleted_forms))
        added_forms = [
            child
            for child in formset.extra_forms
            if child.has_changed() and id(child) not in deleted_forms
        ]
        forms_by_instance = {id(child.instance): child for child in formset.initial_forms}
        super().save_formset(request, form, formset, change)  # type: ignore[misc]
        label = _label(formset.model)
        for child, obj in zip(added_forms, formset.new_objects, strict=False):
            self._record(request, "admin.add", obj, form_changes(child, obj, adding=True))
        for obj, _fields in formset.changed_objects:
            child = forms_by_instance.get(id(obj))
            changes = form_changes(child, obj, adding=False) if child is not None else {}
            self._record(request, "admin.change", obj, changes)
        if deleted:
            audit_record_many(
                action="admin.delete",
                targets=[(label, pk, {"object": (text, None)}) for pk, text in deleted],
                actor=request.user,
                actor_type=STAFF,
                request=request,
            )

    def _record(
        self,
        request: HttpRequest,
        action: str,
        obj: models.Model,
        changes: Mapping[str, tuple[Any, Any]],
    ) -> None:
        audit_record(
            action=action,
            actor=request.user,
            actor_type=STAFF,
            target_type=_label(obj),
            target_id=obj.pk,
            changes=changes,
            request=request,
        )

    # --- Actions ----------------------------------------------------------------------------

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions: dict[str, Any] = super().get_actions(request)  # type: ignore[misc]
        return {
            name: (
                (func if name in UNRECORDED_ACTIONS else _audited_action(func, name)),
                action_name,
                description,
            )
            for name, (func, action_name, description) in actions.items()
        }

    # --- The change page's link to the object's history -------------------------------------

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        context = dict(extra_context or {})
        if self.model is not AuditEvent and request.user.has_perm("audit.view_auditevent"):
            context["audit_history_url"] = audit_history_url(
                target_types=(_label(self.model), self.model._meta.model_name or ""),
                target_id=unquote(object_id),
            )
        return super().change_view(request, object_id, form_url, context)  # type: ignore[misc]


def _audited_action(func: Callable[..., Any], name: str) -> Callable[..., Any]:
    """The admin action `func`, recording one event per selected object once it has run."""

    @functools.wraps(func)
    def run(modeladmin: Any, request: HttpRequest, queryset: Any) -> HttpResponseBase | None:
        label = _label(modeladmin.model)
        with transaction.atomic(using=router.db_for_write(modeladmin.model)):
            # Read before the action runs: it may delete or change what the filter selects.
            selected = list(queryset.values_list("pk", flat=True))
            response = func(modeladmin, request, queryset)
            if not isinstance(response, SimpleTemplateResponse):
                audit_record_many(
                    action=DOMAIN_ACTIONS.get((label, name), "admin.action"),
                    targets=[(label, pk, {"action": (None, name)}) for pk in selected],
                    actor=request.user,
                    actor_type=STAFF,
                    request=request,
                )
        return response

    return run
