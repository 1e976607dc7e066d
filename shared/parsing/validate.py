"""JSON Schema validation with every problem reported as a JSON pointer.

The schemas live beside this module (``schemas/*.schema.json``) so that people can read what
forewarn accepts without reading code. They are strict on what the code relies on and lenient
on everything else: Azure adds fields over time and forewarn must not reject them.
"""

from __future__ import annotations

import json
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


def problems(schema_name: str, instance: Any, base_pointer: str = "") -> list[Problem]:
    """Every schema violation, deepest-first order kept stable for tests and people."""
    found = [
        Problem(pointer(base_pointer, *error.absolute_path), _describe(error))
        for error in validator(schema_name).iter_errors(instance)
    ]
    return sorted(found, key=lambda problem: (problem.pointer, problem.message))
