"""Reading infra/ offline: every Bicep file through pycep-parser, parsed once per session."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any, cast

from pycep import BicepParser

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"


def parse(path: Path) -> dict[str, Any]:
    """pycep's JSON form of one Bicep file, as plain dicts (its TypedDicts are partial)."""
    return cast(dict[str, Any], BicepParser().parse(file_path=path))


@cache
def bicep(relative: str) -> dict[str, Any]:
    """Parse one Bicep file (path relative to infra/) once per test session."""
    return parse(INFRA / relative)


def walk(node: Any) -> Iterator[Any]:
    """Every value in a parsed tree, depth first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)
