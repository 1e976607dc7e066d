"""Every property infra/ sets exists, is writable, and every required one is set, by Azure's
published resource types for the api-versions used (the compiler's own type data, vendored
from Azure/bicep-types-az by tests/support/vendor_bicep_types.py; the Bicep CLI cannot be
installed here).

GIVEN each resource declaration in infra/ (parsed offline with pycep)
THEN  its type@apiVersion is among the vendored types; each key it sets, at every depth the
      literal Bicep reaches, is a property of that type (or the type takes any key), not
      read-only; the required ones are there; a literal string of an enumerated property is one
      of its values.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.support.bicep import INFRA, ROOT, bicep
from tests.support.vendor_bicep_types import declared_types

TYPES = ROOT / "tests" / "fixtures" / "bicep-types" / "resource-types.json"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))
REQUIRED, READ_ONLY = 1, 2
BICEP_ONLY_KEYS = {"parent", "scope", "dependsOn"}  # Bicep's, not the resource body's


@cache
def vendored() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(TYPES.read_text(encoding="utf-8"))
    return document["resources"]


def is_expression(value: Any) -> bool:
    return (
        isinstance(value, dict) and len(value) == 1 and ("function" in value or "operator" in value)
    )


def check(value: Any, schema: Any, where: str, names: set[str], problems: list[str]) -> None:
    """Compare one Bicep value with its type; every mismatch is appended to ``problems``."""
    if schema == "any" or is_expression(value):
        return
    if isinstance(value, dict) and "loop_type" in value:  # [for x in xs: {...}]
        item = schema.get("items", "any") if isinstance(schema, dict) else "any"
        check(value["config"], item, f"{where}[]", names, problems)
        return
    if isinstance(schema, dict) and "props" in schema and isinstance(value, dict):
        props = schema["props"]
        for key, inner in value.items():
            if key in BICEP_ONLY_KEYS:
                continue
            name = key.strip("'")
            if name not in props:
                if not schema["additional"]:
                    problems.append(f"{where}.{name}: not a property of this type")
                continue
            if props[name]["flags"] & READ_ONLY:
                problems.append(f"{where}.{name}: read-only")
            check(inner, props[name]["type"], f"{where}.{name}", names, problems)
        for name, spec in props.items():
            if spec["flags"] & REQUIRED and name not in value and name not in ("name",):
                problems.append(f"{where}.{name}: required, not set")
        return
    if isinstance(schema, dict) and "items" in schema and isinstance(value, list):
        for index, item in enumerate(value):
            check(item, schema["items"], f"{where}[{index}]", names, problems)
        return
    if isinstance(schema, dict) and "enum" in schema and isinstance(value, str):
        literal = "${" not in value and value not in names
        if literal and value not in schema["enum"]:
            problems.append(f"{where}: {value!r} is not one of {schema['enum']}")


def body_of(config: dict[str, Any]) -> dict[str, Any]:
    while "config" in config and ("loop_type" in config or "condition" in config):
        config = config["config"]
    return config


def symbols(parsed: dict[str, Any]) -> set[str]:
    """Names a plain string may refer to: pycep writes identifiers and literals alike."""
    found: set[str] = set()
    for section in ("parameters", "variables", "resources", "modules"):
        found.update(parsed.get(section, {}))
    for resource in parsed.get("resources", {}).values():
        loop = resource["config"].get("loop_type")
        if loop:
            found.add(loop["detail"]["item_name"])
    return found


def test_the_vendored_types_are_the_ones_infra_declares() -> None:
    assert set(vendored()) == declared_types(), "run tests/support/vendor_bicep_types.py"


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: p.relative_to(INFRA).as_posix())
def test_every_property_set_is_a_writable_property_of_its_type(path: Path) -> None:
    parsed = bicep(path.relative_to(INFRA).as_posix())
    names = symbols(parsed)
    problems: list[str] = []
    for symbol, resource in parsed.get("resources", {}).items():
        if resource.get("existing"):
            continue
        key = f"{resource['type']}@{resource['api_version']}"
        assert key in vendored(), f"{symbol}: {key} not vendored"
        check(body_of(resource["config"]), vendored()[key], symbol, names, problems)
    assert not problems, "\n".join(problems)


def test_the_check_finds_an_unknown_a_read_only_and_a_missing_property() -> None:
    schema = vendored()["Microsoft.Insights/activityLogAlerts@2020-10-01"]
    problems: list[str] = []
    body = {
        "name": "x",
        "location": "Global",
        "id": "read-only",
        "properties": {"scopes": [], "condition": {"allOf": []}, "severity": 3},
    }
    check(body, schema, "rule", set(), problems)
    assert "rule.id: read-only" in problems
    assert "rule.properties.severity: not a property of this type" in problems
    assert "rule.properties.actions: required, not set" in problems
    site = vendored()["Microsoft.Web/sites@2024-04-01"]
    problems = []
    check(
        {"name": "x", "location": "l", "properties": {"clientCertMode": "Sometimes"}},
        site,
        "app",
        set(),
        problems,
    )
    assert any("clientCertMode" in p and "not one of" in p for p in problems), problems
