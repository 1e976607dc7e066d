"""JSON Schema validation with every problem reported as a JSON pointer.

The schemas live beside this module (``schemas/*.schema.json``) so that people can read what
forewarn accepts without reading code. They are strict on what the code relies on and lenient
on everything else: Azure adds fields over time and forewarn must not reject them.

An alert that is valid (nearly every one) is answered by a check compiled from the same schema
(``fast_check``), which says only yes or no, in a tenth of the time ``jsonschema`` takes to
walk it; only a "no" runs ``jsonschema``, whose errors name each field. The compiled check
knows the few keywords the schemas use and refuses any other (that schema then always goes
through ``jsonschema``); a test holds the two to the same answer on every node of thousands of
mutated real samples (tests/unit/test_validate_fast.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError
from referencing import Registry, Resource

from shared.parsing.errors import Problem

SCHEMA_BASE = "https://forewarn.example/schemas/"  # an identifier only; never fetched
_SCHEMA_FILES = (
    "envelope-common.schema.json",
    "envelope-legacy.schema.json",
    "activity-log-event.schema.json",
    "service-health-properties.schema.json",
)


def _load(name: str) -> dict[str, Any]:
    text = resources.files("shared.parsing").joinpath("schemas", name).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _registry() -> Registry:
    registry: Registry = Registry()
    for name in _SCHEMA_FILES:
        registry = registry.with_resource(SCHEMA_BASE + name, Resource.from_contents(_load(name)))
    return registry


@cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(_load(name), registry=_registry())


def escape_pointer_token(token: str | int) -> str:
    return str(token).replace("~", "~0").replace("/", "~1")


def pointer(base: str, *tokens: str | int) -> str:
    return base + "".join("/" + escape_pointer_token(token) for token in tokens)


# JSON's names for what Python decoded, so that a message speaks of the document people sent.
_JSON_TYPE_NAMES = {
    "dict": "object",
    "list": "array",
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "NoneType": "null",
}


def _describe(error: ValidationError) -> str:
    if error.validator == "required":
        return error.message.replace(" is a required property", " is required")
    if error.validator == "type":
        expected = error.validator_value
        kinds = " or ".join(expected) if isinstance(expected, list) else str(expected)
        got = type(error.instance).__name__
        return f"must be {kinds}, got {_JSON_TYPE_NAMES.get(got, got)}"
    if error.validator == "const":
        return f"must be {json.dumps(error.validator_value)}"
    if error.validator == "oneOf":
        return "must be a JSON-encoded string or an array of services"
    return error.message


Check = Callable[[Any], bool]


def _is_integer(value: Any) -> bool:
    # As jsonschema's 2020-12 type checker: not a bool, and 1.0 counts.
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


# The JSON types the schemas name, decided as jsonschema decides them. "number" and "boolean"
# are left out: no schema uses them, and a schema that names one is not compiled.
_TYPES: dict[str, Check] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "null": lambda value: value is None,
    "integer": _is_integer,
}
_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "$defs"})


class _NotCompiled(Exception):
    """The schema uses a keyword (or a value) the compiled check does not know."""


def _of_type(kinds: list[Check]) -> Check:
    return lambda value: any(kind(value) for kind in kinds)


def _properties(subs: dict[str, Check]) -> Check:
    return lambda value: (
        not isinstance(value, dict)
        or all(check(value[name]) for name, check in subs.items() if name in value)
    )


def _required(names: list[str]) -> Check:
    return lambda value: not isinstance(value, dict) or all(name in value for name in names)


def _items(item: Check) -> Check:
    return lambda value: not isinstance(value, list) or all(item(element) for element in value)


def _const(wanted: str) -> Check:
    return lambda value: isinstance(value, str) and value == wanted


def _min_length(least: int) -> Check:
    return lambda value: not isinstance(value, str) or len(value) >= least


def _one_of(options: list[Check]) -> Check:
    return lambda value: sum(1 for option in options if option(value)) == 1


def _all(checks: list[Check]) -> Check:
    return lambda value: all(check(value) for check in checks)


def _compile(schema: Any, root: dict[str, Any]) -> Check:
    if not isinstance(schema, dict):
        raise _NotCompiled(type(schema).__name__)
    checks: list[Check] = []
    for keyword, argument in schema.items():
        if keyword in _ANNOTATIONS:
            continue
        if keyword == "type":
            names = argument if isinstance(argument, list) else [argument]
            if any(name not in _TYPES for name in names):
                raise _NotCompiled(f"type {argument}")
            checks.append(_of_type([_TYPES[name] for name in names]))
        elif keyword == "properties":
            checks.append(
                _properties({name: _compile(sub, root) for name, sub in argument.items()})
            )
        elif keyword == "required":
            checks.append(_required(list(argument)))
        elif keyword == "items":
            checks.append(_items(_compile(argument, root)))
        elif keyword == "const" and isinstance(argument, str):
            checks.append(_const(argument))
        elif keyword == "minLength" and isinstance(argument, int):
            checks.append(_min_length(argument))
        elif keyword == "oneOf":
            checks.append(_one_of([_compile(option, root) for option in argument]))
        elif keyword == "$ref" and str(argument).startswith("#/$defs/"):
            checks.append(_compile(root["$defs"][argument.removeprefix("#/$defs/")], root))
        elif keyword == "$ref" and argument in _SCHEMA_FILES:
            target = _load(argument)
            checks.append(_compile(target, target))
        else:
            raise _NotCompiled(keyword)
    return _all(checks)


@cache
def fast_check(schema_name: str) -> Check | None:
    """A yes/no check with ``validator(schema_name).is_valid``'s answers, or None when the
    schema uses what it does not know."""
    schema = _load(schema_name)
    try:
        return _compile(schema, schema)
    except _NotCompiled:
        return None


def problems(schema_name: str, instance: Any, base_pointer: str = "") -> list[Problem]:
    """Every schema violation, deepest-first order kept stable for tests and people."""
    check = fast_check(schema_name)
    if check is not None and check(instance):
        return []
    found = [
        Problem(pointer(base_pointer, *error.absolute_path), _describe(error))
        for error in validator(schema_name).iter_errors(instance)
    ]
    return sorted(found, key=lambda problem: (problem.pointer, problem.message))
