"""Load and validate the routing file (path in setting ``FOREWARN_CONFIG``).

A file is checked in three passes and only built when all three find nothing, so an invalid
file never half-applies: YAML syntax (with duplicate keys, which PyYAML would silently drop),
the JSON Schema shipped beside this module (``config.schema.json``), then the rules a schema
cannot say (receivers that exist, IANA zones, secrets written inline). Every problem carries
its JSON pointer and, when known, its line in the file.

    RoutingConfigError
    ├── ConfigNotFoundError   no setting, or the file cannot be read
    └── ConfigInvalidError    ``.problems``: every problem found, with its location
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from shared import names
from shared.models import QuietHours, Receiver
from shared.routing.checks import ConfigProblem, rule_problems
from shared.routing.offsets import ReminderOffsets, ReminderSettingError
from shared.routing.rules import Escalation, Match, Route, RoutingConfig
from shared.timeutil import parse_duration

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

logger = logging.getLogger(__name__)


class RoutingConfigError(Exception):
    """Base class of routing-file failures."""


class ConfigNotFoundError(RoutingConfigError):
    """The setting is empty or the file cannot be read."""


class ConfigInvalidError(RoutingConfigError):
    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s) in the routing file")


# --------------------------------------------------------------------------------------
# Pass 1: YAML, with a line for every JSON pointer


def _pointer(parent: str, key: object) -> str:
    return f"{parent}/{str(key).replace('~', '~0').replace('/', '~1')}"


def _walk_nodes(
    node: yaml.Node, pointer: str, lines: dict[str, int], problems: list[ConfigProblem]
) -> None:
    lines.setdefault(pointer, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = _pointer(pointer, key)
            if key in seen:
                problems.append(
                    ConfigProblem(child, f"duplicate key {key!r}", key_node.start_mark.line + 1)
                )
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _walk_nodes(value_node, child, lines, problems)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk_nodes(item, _pointer(pointer, index), lines, problems)


def _parse_yaml(text: str) -> tuple[Any, dict[str, int], list[ConfigProblem]]:
    problems: list[ConfigProblem] = []
    lines: dict[str, int] = {}
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(error, "problem", None) or str(error)
        return None, lines, [ConfigProblem("", f"not valid YAML: {problem}", line)]
    if root is not None:
        _walk_nodes(root, "", lines, problems)
    return data, lines, problems


# --------------------------------------------------------------------------------------
# Pass 2: JSON Schema


@cache
def schema() -> dict[str, Any]:
    text = resources.files("shared.routing").joinpath("config.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator() -> Draft202012Validator:
    # Imported on first use: jsonschema costs ~180 ms, and every function of the app pays for
    # what function_app imports at a cold start.
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema())


# The schema's patterns read badly in an error message; say what they mean instead.
_PATTERN_MEANING = {
    "^[A-Za-z_][A-Za-z0-9_]*$": "must be the NAME of a setting (letters, digits, _), not a secret",
    "^([01][0-9]|2[0-3]):[0-5][0-9]$": "must be a wall-clock time HH:MM",
    "^(?=.)([0-9]+w)?([0-9]+d)?([0-9]+h)?([0-9]+m)?$": "must be a duration like 90m, 36h, 3d",
    "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$": "must be a name of letters, digits, . _ - (max 63)",
    "^\\+[1-9][0-9]{6,14}$": "must be an E.164 phone number like +15551234567",
    "^https?://[^\\s]+$": "must be an http(s) URL",
    '^[^@\\s<>,;"]+@[^@\\s<>,;"]+\\.[^@\\s<>,;"]+$': "must be an email address",
    "^[a-z][a-z0-9_]*$": "option names are lower_snake_case",
}


def _schema_message(error: ValidationError) -> tuple[str, str]:
    """The pointer and a readable message for one schema error."""
    path = "".join(_pointer("", part) for part in error.absolute_path)
    schema_here: dict[str, Any] = dict(error.schema) if isinstance(error.schema, dict) else {}
    if error.validator == "pattern":
        meaning = _PATTERN_MEANING.get(str(error.validator_value))
        if meaning:
            return path, f"{error.instance!r} {meaning}"
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(schema_here.get("properties", {}))
        extras = [key for key in error.instance if key not in allowed]
        if extras:
            return _pointer(path, extras[0]), f"unknown key {extras[0]!r}" + (
                f" (allowed: {', '.join(sorted(allowed))})" if allowed else ""
            )
    if error.validator == "not" and path == "/route":
        return path, "the root route is the default route: no match, exclude or continue here"
    if error.validator == "oneOf" and path.endswith("/options"):
        return path, "a Slack receiver needs exactly one of webhook_url_setting or token_setting"
    if (
        error.validator == "anyOf"
        and "/receivers/" in path
        and "targets" in schema_here.get("anyOf", [{}])[0].get("required", [])
    ):
        return path, "a webhook receiver needs targets (URLs), options.url or options.url_setting"
    branches = (
        schema_here.get(str(error.validator), []) if error.validator in ("oneOf", "anyOf") else []
    )
    if branches and all(set(branch) == {"required"} for branch in branches):
        wanted = [name for branch in branches for name in branch["required"]]
        return path, f"needs one of: {', '.join(wanted)}"
    if error.validator in ("oneOf", "anyOf") and error.context:
        from jsonschema.exceptions import best_match

        inner = best_match(error.context)
        return _schema_message(inner)
    return path, error.message


def _schema_problems(data: Any, lines: Mapping[str, int]) -> list[ConfigProblem]:
    problems = []
    for error in _validator().iter_errors(data):
        pointer, message = _schema_message(error)
        problems.append(ConfigProblem(pointer, message, _line_for(pointer, lines)))
    return problems


def _line_for(pointer: str, lines: Mapping[str, int]) -> int | None:
    while True:
        if pointer in lines:
            return lines[pointer]
        if not pointer:
            return None
        pointer = pointer.rsplit("/", 1)[0]


# --------------------------------------------------------------------------------------
# Building the typed config


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _build_receiver(raw: dict[str, Any], defaults: Mapping[str, Any]) -> Receiver:
    quiet = raw.get("quiet_hours")
    return Receiver(
        name=raw["name"],
        type=raw["type"],
        targets=[str(target) for target in raw.get("targets") or []],
        timezone=raw.get("timezone") or defaults.get("timezone") or "UTC",
        language=raw.get("language") or defaults.get("language") or "en",
        quiet_hours=QuietHours(quiet["start"], quiet["end"]) if quiet else None,
        options={key: _option_text(value) for key, value in (raw.get("options") or {}).items()},
    )


def _build_route(raw: dict[str, Any], pointer: str, inherited: tuple[str, ...]) -> Route:
    receivers = tuple(raw.get("receivers") or inherited)
    children = tuple(
        _build_route(child, f"{pointer}/routes/{index}", receivers)
        for index, child in enumerate(raw.get("routes") or [])
    )
    exclude = raw.get("exclude")
    return Route(
        label=raw.get("name") or pointer,
        pointer=pointer,
        match=Match.from_json(raw.get("match")),
        exclude=Match.from_json(exclude) if exclude else None,
        receivers=receivers,
        continue_matching=bool(raw.get("continue", False)),
        routes=children,
    )


def parse_config(text: str, source: str = "<memory>") -> RoutingConfig:
    """Validate a routing file's text and build it; raise ``ConfigInvalidError`` on any problem."""
    data, lines, problems = _parse_yaml(text)
    if data is None and not problems:
        problems.append(ConfigProblem("", "the file is empty", 1))
    if data is not None:
        problems += _schema_problems(data, lines)
        found, warnings = rule_problems(data)
        problems += [
            ConfigProblem(p.pointer, p.message, p.line or _line_for(p.pointer, lines))
            for p in found
        ]
    if problems:
        problems.sort(key=lambda problem: (problem.line or 0, problem.pointer))
        raise ConfigInvalidError(source, problems)
    defaults = data.get("defaults") or {}
    receivers = {raw["name"]: _build_receiver(raw, defaults) for raw in data["receivers"]}
    reminders = {}
    for index, raw in enumerate(data["receivers"]):
        if raw.get("reminders") is None:
            continue
        try:
            reminders[raw["name"]] = ReminderOffsets.from_json(raw["reminders"])
        except ReminderSettingError as error:
            pointer = f"/receivers/{index}/reminders"
            problem = ConfigProblem(pointer, str(error), _line_for(pointer, lines))
            raise ConfigInvalidError(source, [problem]) from error
    escalations = {
        raw["name"]: Escalation(
            raw["escalate"]["to"], parse_duration(str(raw["escalate"]["before"]))
        )
        for raw in data["receivers"]
        if raw.get("escalate")
    }
    root = _build_route(data["route"], "/route", ())
    start_allow = {
        raw["name"]: frozenset(
            person.strip().lower() for person in raw["start_from_message"].get("allow", [])
        )
        for raw in data["receivers"]
        if raw.get("start_from_message") is not None
    }
    return RoutingConfig(
        receivers=receivers,
        root=root,
        source=source,
        warnings=tuple(warnings),
        reminders=reminders,
        escalations=escalations,
        start_allow=start_allow,
    )


def load_config(path: str | os.PathLike[str]) -> RoutingConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigNotFoundError(
            f"routing file {os.fspath(path)!r} cannot be read: {error}"
        ) from error
    return parse_config(text, os.fspath(path))


def config_path(environ: Mapping[str, str]) -> str:
    path = environ.get(names.SETTING_CONFIG, "").strip()
    if not path:
        raise ConfigNotFoundError(f"setting {names.SETTING_CONFIG} names no routing file")
    return path


class ConfigCache:
    """One parsed config per process, reloaded when the file's mtime or size changes.

    A file edited into an invalid state keeps the last good config in force (and logs every
    problem) rather than stopping deliveries; with no good config yet, the error is raised.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, int, int] | None = None
        self._rejected: tuple[str, int, int] | None = None
        self._config: RoutingConfig | None = None

    def get(self, path: str) -> RoutingConfig:
        try:
            stat = os.stat(path)
        except OSError as error:
            raise ConfigNotFoundError(f"routing file {path!r} cannot be read: {error}") from error
        key = (path, stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if self._config is not None and key in (self._key, self._rejected):
                return self._config
            try:
                config = load_config(path)
            except ConfigInvalidError as error:
                for problem in error.problems:
                    logger.error("routing file problem: %s", problem.render(path))
                if self._config is not None and self._key and self._key[0] == path:
                    logger.error("keeping the last valid routing file in force")
                    self._rejected = key
                    return self._config
                raise
            self._key, self._config = key, config
            return config


__all__ = [
    "ConfigCache",
    "ConfigInvalidError",
    "ConfigNotFoundError",
    "ConfigProblem",
    "RoutingConfigError",
    "config_path",
    "load_config",
    "parse_config",
    "schema",
]
