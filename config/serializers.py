"""Strict JSON input (API.md §8): a field takes only the JSON type it declares, no coercion.

DRF coerces by default: `{"name": 42}` becomes the string "42", `"5"` the integer 5, `0` and
`"yes"` booleans. Every request-body serializer derives from `StrictInput` (or mixes in
`StrictInputMixin`), which checks each declared field's JSON type (nested serializers and list
items included) before DRF's own validation, and refuses NUL characters in every string:

- strings (CharField, URLField, RegexField, UUIDField, dates, string choices): a JSON string;
- integers: a JSON integer, not a boolean, not `"5"`, not `5.0`;
- floats and decimals: a JSON number, not a boolean;
- booleans: `true` or `false`;
- lists: a JSON array; objects (nested serializers, DictField): a JSON object.

Anything else is 422 `VALIDATION_ERROR` naming the field (code `invalid_type`). `null` is left to
the field (`allow_null`). Query parameters are strings by nature: their serializers derive from
`QueryInput`, which parses integers and booleans strictly from their text (`limit=5.0`,
`limit= 5`, `immediate=yes` are refused).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.fields import empty

NUL = "\x00"
JSON_TYPE_NAMES = {
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}
NUL_MESSAGE = "Null characters are not allowed."
INTEGER_TEXT = re.compile(r"^-?[0-9]{1,1000}\Z")

# A URL field takes an http(s) URL with a DNS name of at most 253 characters (labels of at most
# 61), localhost or an IPv4 address, an optional port, and an RFC 3986 path, query and fragment:
# what Django's URLValidator accepts, narrowed to what a schema states plainly (the OpenAPI schema
# carries this pattern in place of `format: uri`, which promises any RFC 3986 URI).
_URL_CHAR = r"(?:[A-Za-z0-9._~:/?@!$&'()*+,;=-]|%[0-9A-Fa-f]{2})"
_DNS_NAME = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,59}[A-Za-z0-9])?\.){1,3}[A-Za-z]{2,63}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
URL_PATTERN = (
    rf"^[Hh][Tt][Tt][Pp][Ss]?://(?:{_DNS_NAME}|localhost|(?:{_OCTET}\.){{3}}{_OCTET})"
    rf"(?::[0-9]{{1,4}})?(?:[/?]{_URL_CHAR}*)?(?:#{_URL_CHAR}*)?$"
)
# `$` as the schema's validators (Python's re) read it: a trailing newline passes, and DRF trims it.
URL_TEXT = re.compile(URL_PATTERN)
# The same with `{` and `}` in the path, query and fragment: a URL template a provider fills in
# (Stripe's success_url takes `{CHECKOUT_SESSION_ID}`).
TEMPLATE_URL_PATTERN = URL_PATTERN.replace(_URL_CHAR, _URL_CHAR.replace("-]", "{}-]"))
TEMPLATE_URL_TEXT = re.compile(TEMPLATE_URL_PATTERN)
BOOLEAN_TEXT = {"true": True, "false": False}


@extend_schema_field({"type": "string", "pattern": TEMPLATE_URL_PATTERN})
class TemplateURLField(serializers.URLField):
    """A URL that may hold `{PLACEHOLDERS}` for a provider to fill in (TEMPLATE_URL_PATTERN)."""


def _type_error(expected: str) -> serializers.ErrorDetail:
    return serializers.ErrorDetail(f"Must be {expected}.", code="invalid_type")


def _expected_type(field: serializers.Field[Any, Any, Any, Any]) -> tuple[type, ...] | None:
    """The Python types (as JSON parses them) `field` accepts; None to leave it to DRF."""
    if isinstance(field, serializers.BooleanField):
        return (bool,)
    if isinstance(field, serializers.MultipleChoiceField):
        return (list,)
    if isinstance(field, serializers.ChoiceField):
        keys = list(field.choices)
        if keys and all(isinstance(key, str) for key in keys):
            return (str,)
        if keys and all(isinstance(key, int) and not isinstance(key, bool) for key in keys):
            return (int,)
        return None
    if isinstance(
        field,
        serializers.CharField
        | serializers.UUIDField
        | serializers.DateTimeField
        | serializers.DateField
        | serializers.TimeField
        | serializers.DurationField,
    ):
        return (str,)
    if isinstance(field, serializers.IntegerField):
        return (int,)
    if isinstance(field, serializers.FloatField | serializers.DecimalField):
        return (int, float)
    if isinstance(field, serializers.ListField | serializers.ListSerializer):
        return (list,)
    if isinstance(field, serializers.DictField | serializers.Serializer):
        return (dict,)
    return None


def _check(field: serializers.Field[Any, Any, Any, Any], value: Any) -> Any:
    """The errors of `value` for `field` as DRF shapes them (a list, or a dict for nested
    values), or None when its JSON type is right."""
    if value is None:
        return None
    expected = _expected_type(field)
    if expected is not None:
        # bool is an int subclass in Python, but never a number in the contract.
        if isinstance(value, bool) and bool not in expected:
            return [_type_error(JSON_TYPE_NAMES[expected[0]])]
        if not isinstance(value, expected):
            return [_type_error(JSON_TYPE_NAMES[expected[0]])]
    if isinstance(value, str) and NUL in value:
        return [serializers.ErrorDetail(NUL_MESSAGE, code="null_characters_not_allowed")]
    if isinstance(field, serializers.URLField) and value:
        pattern = TEMPLATE_URL_TEXT if isinstance(field, TemplateURLField) else URL_TEXT
        if not pattern.match(value):
            return [serializers.ErrorDetail("Enter a valid URL.", code="invalid")]
    if isinstance(field, serializers.ListSerializer | serializers.ListField):
        return _check_items(field.child, value)
    if isinstance(field, serializers.DictField):
        errors = {key: error for key, item in value.items() if (error := _check(field.child, item))}
        return errors or None
    if isinstance(field, serializers.Serializer):
        return strict_type_errors(field, value) or None
    return None


def _check_items(child: Any, values: list[Any]) -> dict[int, Any] | None:
    errors = {index: error for index, item in enumerate(values) if (error := _check(child, item))}
    return errors or None


def strict_type_errors(serializer: serializers.Serializer, data: Any) -> dict[str, Any]:
    """Type and NUL errors of the declared, writable fields present in `data`, keyed by field."""
    if not isinstance(data, Mapping):
        return {}  # DRF answers "Invalid data. Expected a dictionary".
    errors: dict[str, Any] = {}
    for field in serializer._writable_fields:
        value = data.get(field.field_name, empty)
        if value is empty:
            continue
        error = _check(field, value)
        if error:
            errors[str(field.field_name)] = error
    return errors


def _raise_in_field_order(
    serializer: serializers.Serializer, data: Mapping[str, Any], errors: dict[str, Any]
) -> None:
    """Raise `errors` together with DRF's own errors of the other fields, in declaration order,
    so the envelope's first bad field is the first declared one whichever check found it."""
    rest = {key: value for key, value in data.items() if key not in errors}
    try:
        serializers.Serializer.to_internal_value(serializer, rest)
    except serializers.ValidationError as exc:
        if isinstance(exc.detail, dict):
            errors = {**exc.detail, **errors}
    order = list(serializer.fields)
    raise serializers.ValidationError(
        dict(
            sorted(
                errors.items(), key=lambda item: order.index(item[0]) if item[0] in order else -1
            )
        )
    )


class StrictInputMixin:
    """Refuse JSON values of the wrong type (and NUL characters) before DRF coerces them."""

    def to_internal_value(self, data: Any) -> Any:
        errors = strict_type_errors(self, data)  # type: ignore[arg-type]
        if errors:
            _raise_in_field_order(self, data, errors)  # type: ignore[arg-type]
        return super().to_internal_value(data)  # type: ignore[misc]


class StrictInput(StrictInputMixin, serializers.Serializer):
    """Base of every request-body serializer."""


class QueryInput(serializers.Serializer):
    """Base of every query-parameter serializer: values are text, parsed without leniency.

    Integers are ASCII digits with an optional minus (DRF would take `5.0`, ` 5`, `5_0` or
    Arabic-Indic digits), booleans `true` or `false` (DRF would take `yes`, `on`, `1`...).
    NUL characters are refused for every query parameter by `QueryStringMiddleware`.
    """

    def to_internal_value(self, data: Any) -> Any:
        errors: dict[str, Any] = {}
        for field in self._writable_fields:
            raw = data.get(field.field_name, empty) if isinstance(data, Mapping) else empty
            if raw is empty or not isinstance(raw, str):
                continue
            name = str(field.field_name)
            if isinstance(field, serializers.ChoiceField) and raw == "" and not field.allow_blank:
                # DRF reads an empty query value as absent (its HTML form rule): `?status=`
                # names no choice, so it is refused like any other value outside the enum.
                errors[name] = [
                    ErrorDetail(
                        field.error_messages["invalid_choice"].format(input=raw), "invalid_choice"
                    )
                ]
            elif isinstance(field, serializers.BooleanField) and raw not in BOOLEAN_TEXT:
                errors[name] = [_type_error("true or false")]
            elif isinstance(field, serializers.IntegerField) and not INTEGER_TEXT.match(raw):
                errors[name] = [_type_error("an integer")]
        if errors:
            _raise_in_field_order(self, data, errors)
        return super().to_internal_value(data)
