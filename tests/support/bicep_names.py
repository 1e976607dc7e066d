"""Every name infra/ derives, worked out offline for given deployment parameters.

The Bicep CLI is not available here, so this evaluates just enough Bicep to know each
resource's and each module deployment's name: parameters (and their defaults), variables,
string interpolation, `for` loops, conditions, property access, and the functions the names
use. ``uniqueString`` and ``guid`` give values of their real length (13 and 36 characters)
from a local hash, because only the length and alphabet matter for the limits. A value that
comes from another deployment (a module's outputs, a resource's id) is ``UNKNOWN``; a name
that depends on one is reported as such, so that a test never passes by not knowing.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.bicep import INFRA, bicep


class _Unknown:
    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Any = _Unknown()
UNIQUE_STRING_LENGTH = 13  # Bicep's uniqueString: 13 characters, lowercase letters and digits
SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class DerivedName:
    file: str  # relative to infra/
    symbol: str  # the resource's or module's symbolic name
    type: str  # resource type, or "Microsoft.Resources/deployments" for a module
    name: Any  # the name as deployed, or UNKNOWN


def derived_names(parameters: Mapping[str, Any]) -> list[DerivedName]:
    """Every name main.bicep and its modules deploy with ``parameters`` (the rest default)."""
    return list(_File(INFRA / "main.bicep", dict(parameters)).names())


def _unique_string(*parts: Any) -> str:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()
    return "".join(chr(ord("a") + int(c, 16)) if i % 2 else c for i, c in enumerate(digest))[
        :UNIQUE_STRING_LENGTH
    ]


def _guid(*parts: Any) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "|".join(map(str, parts))))


_FUNCTIONS: dict[str, Any] = {
    "unique_string": _unique_string,
    "guid": _guid,
    "to_lower": lambda s: s.lower() if isinstance(s, str) else UNKNOWN,
    "take": lambda value, count: value[:count] if isinstance(value, str | list) else UNKNOWN,
    "empty": lambda value: UNKNOWN if value is UNKNOWN else not value,
    "concat": lambda *parts: (
        [x for p in parts for x in p]
        if all(isinstance(p, list) for p in parts)
        else "".join(map(str, parts))
    ),
    "items": lambda obj: (
        [{"key": k, "value": v} for k, v in sorted(obj.items())]
        if isinstance(obj, dict)
        else UNKNOWN
    ),
    "union": lambda *parts: (
        {k: v for p in parts for k, v in p.items()}
        if all(isinstance(p, dict) for p in parts)
        else sorted({x for p in parts for x in p})
        if all(isinstance(p, list) for p in parts)
        else UNKNOWN
    ),
    "subscription": lambda sub=None: {
        "id": f"/subscriptions/{sub or SUBSCRIPTION_ID}",
        "subscriptionId": sub or SUBSCRIPTION_ID,
    },
}
# Interpolations are kept as text by pycep: "forewarn-sub-${uniqueString(a, b)}".
_CAMEL = {"uniqueString": "unique_string", "toLower": "to_lower"}
_TOKEN = re.compile(r"\s*(?:(?P<str>'[^']*')|(?P<num>\d+)|(?P<id>[A-Za-z_][\w.]*)|(?P<op>[(),]))")


class _File:
    def __init__(self, path: Path, given: dict[str, Any]) -> None:
        self.path = path
        self.parsed = bicep(path.relative_to(INFRA).as_posix())  # parsed once per session
        self.values: dict[str, Any] = {}
        self.raw_variables = self.parsed.get("variables", {})
        self.symbols = set(self.parsed.get("resources", {})) | set(self.parsed.get("modules", {}))
        for name, spec in self.parsed.get("parameters", {}).items():
            if name in given:
                self.values[name] = given[name]
            elif "default" in spec:
                self.values[name] = self.eval(spec["default"])
            else:
                self.values[name] = UNKNOWN

    # -- names -----------------------------------------------------------------------------

    def names(self) -> Iterator[DerivedName]:
        relative = self.path.relative_to(INFRA).as_posix()
        for symbol, resource in self.parsed.get("resources", {}).items():
            for scope, body in self._instances(resource["config"]):
                yield DerivedName(
                    relative, symbol, resource["type"], self.eval(body["name"], scope)
                )
        for symbol, module in self.parsed.get("modules", {}).items():
            target = self.path.parent / module["detail"]["path"]
            for scope, body in self._instances(module["config"]):
                name = self.eval(body["name"], scope)
                yield DerivedName(relative, symbol, "Microsoft.Resources/deployments", name)
                params = {k: self.eval(v, scope) for k, v in (body.get("params") or {}).items()}
                yield from _File(target, params).names()

    def _instances(self, config: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(loop scope, body) of each copy a declaration makes; a condition is taken as true."""
        if "loop_type" in config and config.get("loop_type"):
            detail = config["loop_type"]["detail"]
            items = self.eval(detail["array_name"])
            inner = config["config"]
            while "config" in inner and "condition" in inner:
                inner = inner["config"]
            if items is UNKNOWN:
                yield {}, {"name": UNKNOWN}
                return
            for item in items:
                yield {detail["item_name"]: item}, inner
            return
        while "config" in config and "condition" in config:
            config = config["config"]
        yield {}, config

    # -- expressions -----------------------------------------------------------------------

    def lookup(self, name: str, scope: Mapping[str, Any]) -> Any:
        if name in scope:
            return scope[name]
        if name in self.values:
            return self.values[name]
        if name in self.raw_variables:
            self.values[name] = self.eval(self.raw_variables[name]["value"])
            return self.values[name]
        if name in self.symbols:
            return UNKNOWN  # another deployment's outputs or a resource's id
        raise KeyError(name)

    def eval(self, node: Any, scope: Mapping[str, Any] | None = None) -> Any:
        scope = scope or {}
        if isinstance(node, str):
            if "${" in node:
                return self._interpolate(node, scope)
            try:
                return self.lookup(node, scope)
            except KeyError:
                return node  # pycep writes string literals and identifiers alike
        if isinstance(node, list):
            return [self.eval(item, scope) for item in node]
        if not isinstance(node, dict):
            return node
        if "loop_type" in node:  # a `for` expression inside a variable
            detail = node["loop_type"]["detail"]
            items = self.eval(detail["array_name"], scope)
            if items is UNKNOWN:
                return UNKNOWN
            return [self.eval(node["config"], {**scope, detail["item_name"]: i}) for i in items]
        if "function" in node:
            function = node["function"]
            args = [self.eval(a, scope) for a in (function.get("parameters") or {}).values()]
            return self._call(function["type"], [a for a in args if a is not None])
        if "operator" in node:
            return self._operator(node["operator"], scope)
        return {self._key(key, scope): self.eval(value, scope) for key, value in node.items()}

    def _key(self, key: str, scope: Mapping[str, Any]) -> Any:
        """An object key: a name, or a quoted (perhaps interpolated) string."""
        if len(key) > 1 and key[0] == key[-1] == "'":
            return self._interpolate(key[1:-1], scope)
        return key

    def _call(self, name: str, args: list[Any]) -> Any:
        function = _FUNCTIONS.get(name)
        if function is None:
            return UNKNOWN
        if name in ("unique_string", "guid"):
            return function(*args)  # fixed length, whatever the inputs
        if any(arg is UNKNOWN for arg in args):
            return UNKNOWN
        return function(*args)

    def _operator(self, operator: dict[str, Any], scope: Mapping[str, Any]) -> Any:
        operands = operator["operands"]
        if operator["type"] == "property_accessor":
            path = _accessor_path(operands)
            value = self.eval(path[0], scope)
            for key in path[1:]:
                value = value.get(key, UNKNOWN) if isinstance(value, dict) else UNKNOWN
            return value
        if operator["type"] == "conditional":
            condition = self.eval(operands["condition"], scope)
            if condition is UNKNOWN:
                return UNKNOWN
            return self.eval(operands["true_value" if condition else "false_value"], scope)
        return UNKNOWN

    def _interpolate(self, text: str, scope: Mapping[str, Any]) -> Any:
        parts: list[Any] = []
        rest = text
        while "${" in rest:
            before, _, tail = rest.partition("${")
            expression, _, rest = tail.partition("}")
            parts.extend([before, self._expression(expression, scope)])
        parts.append(rest)
        if any(part is UNKNOWN for part in parts):
            return UNKNOWN
        return "".join(map(str, parts))

    def _expression(self, text: str, scope: Mapping[str, Any]) -> Any:
        tokens = [m for m in _TOKEN.finditer(text) if m.group().strip()]
        value, at = self._term(tokens, 0, scope)
        if at != len(tokens):
            raise ValueError(f"cannot read interpolation {text!r}")
        return value

    def _term(self, tokens: list[re.Match[str]], at: int, scope: Mapping[str, Any]) -> Any:
        token = tokens[at]
        if token["str"]:
            return token["str"][1:-1], at + 1
        if token["num"]:
            return int(token["num"]), at + 1
        name = token["id"]
        if at + 1 < len(tokens) and tokens[at + 1]["op"] == "(":
            args: list[Any] = []
            at += 2
            while tokens[at]["op"] != ")":
                value, at = self._term(tokens, at, scope)
                args.append(value)
                if tokens[at]["op"] == ",":
                    at += 1
            return self._call(_CAMEL.get(name, name), args), at + 1
        head, *keys = name.split(".")
        value = self.lookup(head, scope)
        for key in keys:
            value = value.get(key, UNKNOWN) if isinstance(value, dict) else UNKNOWN
        return value, at + 1


def _accessor_path(operands: dict[str, Any]) -> list[Any]:
    """pycep nests ``a.b.c`` to the right: accessor(a, accessor(b, c))."""
    second = operands["operand_2"]
    if isinstance(second, dict) and "operator" in second:
        return [operands["operand_1"], *_accessor_path(second["operator"]["operands"])]
    return [operands["operand_1"], second]
