"""What a JSON Schema cannot say about a routing file: receivers that exist, real IANA zones,
unique names, subscription IDs, secrets written inline instead of named by setting, and option
values the channel's sender would refuse (``shared.channels.options``, the senders' own list).

Checks run on the raw (parsed YAML) document and tolerate any shape, so that a file with schema
errors still gets these problems reported in the same run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _pointer(parent: str, key: object) -> str:
    return f"{parent}/{str(key).replace('~', '~0').replace('/', '~1')}"


@dataclass(frozen=True)
class ConfigProblem:
    pointer: str  # JSON pointer into the document, "" for the whole file
    message: str
    line: int | None = None  # 1-based line in the YAML file

    def render(self, source: str) -> str:
        where = f"{source}:{self.line}" if self.line else source
        return f"{where}: {self.pointer or '/'}: {self.message}"


_SECRET_WORDS = (
    "password",
    "token",
    "secret",
    "apikey",
    "api_key",
    "webhook_url",
    "workflow_url",
    "routing_key",
)
_SECRET_VALUES = (
    (re.compile(r"xox[abposr]-[0-9A-Za-z-]+"), "a Slack token"),
    (re.compile(r"hooks\.slack\.com/(services|workflows|triggers)/", re.I), "a Slack webhook URL"),
    (
        re.compile(r"(logic\.azure\.com|powerplatform\.com|webhook\.office\.com)", re.I),
        "a Teams URL",
    ),
    (
        re.compile(r"[?&](sig|code|token|key|apikey|api_key|password)=", re.I),
        "a URL with a credential",
    ),
    (re.compile(r"^SK[0-9a-fA-F]{32}$|^[0-9a-f]{32}$"), "a Twilio key or token"),
)
# Names reserved for examples (RFC 2606, RFC 6761): a target there reaches nobody. Matched as
# the host's last labels, so that "example.company.nl" is not one.
_PLACEHOLDER_HOST = re.compile(
    r"(?:^|[@./])(?:example\.(?:com|net|org)|[a-z0-9-]+\.(?:example|test|invalid))"
    r"(?=$|[/:?#>\s])",
    re.IGNORECASE,
)
_GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


def _iter_routes(route: Any, pointer: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(route, dict):
        return
    yield pointer, route
    children = route.get("routes")
    if isinstance(children, list):
        for index, child in enumerate(children):
            yield from _iter_routes(child, f"{pointer}/routes/{index}")


def _check_zone(value: Any, pointer: str, problems: list[ConfigProblem]) -> None:
    if not isinstance(value, str) or not value:
        return
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(ConfigProblem(pointer, f"{value!r} is not an IANA time zone"))


def _option_text(value: Any) -> str:
    # As the built config gives it to the sender (a YAML true becomes "true").
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_channel_options(
    channel: Any,
    options: dict[str, Any],
    here: str,
    problems: list[ConfigProblem],
    warnings: list[str],
) -> None:
    # Imported here: the channel modules pull in smtplib and ssl, which only validation needs.
    from shared.channels.options import KNOWN_OPTIONS, option_problems, unknown_options

    if not isinstance(channel, str) or channel not in KNOWN_OPTIONS:
        return
    texts = {str(key): _option_text(value) for key, value in options.items()}
    for key, message in option_problems(channel, texts):
        problems.append(ConfigProblem(_pointer(f"{here}/options", key), message))
    for key in unknown_options(channel, texts):
        known = ", ".join(sorted(KNOWN_OPTIONS[channel]))
        warnings.append(
            f"{_pointer(f'{here}/options', key)}: option {key!r} is not read by the {channel} "
            f"sender (it reads: {known})"
        )


def rule_problems(data: Any) -> tuple[list[ConfigProblem], list[str]]:
    problems: list[ConfigProblem] = []
    warnings: list[str] = []
    if not isinstance(data, dict):
        return problems, warnings
    defaults = data.get("defaults")
    if isinstance(defaults, dict):
        _check_zone(defaults.get("timezone"), "/defaults/timezone", problems)
    known: dict[str, str] = {}
    receivers = data.get("receivers") if isinstance(data.get("receivers"), list) else []
    for index, receiver in enumerate(receivers or []):
        if not isinstance(receiver, dict):
            continue
        here = f"/receivers/{index}"
        name = receiver.get("name")
        if isinstance(name, str):
            if name in known:
                problems.append(
                    ConfigProblem(
                        f"{here}/name", f"receiver {name!r} is already defined at {known[name]}"
                    )
                )
            known.setdefault(name, here)
        _check_zone(receiver.get("timezone"), f"{here}/timezone", problems)
        quiet = receiver.get("quiet_hours")
        if (
            isinstance(quiet, dict)
            and quiet.get("start")
            and quiet.get("start") == quiet.get("end")
        ):
            problems.append(
                ConfigProblem(f"{here}/quiet_hours", "quiet hours start and end are equal")
            )
        options = receiver.get("options") if isinstance(receiver.get("options"), dict) else {}
        for key in options or {}:
            if any(word in key for word in _SECRET_WORDS) and not key.endswith("_setting"):
                problems.append(
                    ConfigProblem(
                        _pointer(f"{here}/options", key),
                        f"secrets are named by setting: write {key}_setting: <SETTING_NAME>",
                    )
                )
        _check_channel_options(receiver.get("type"), options or {}, here, problems, warnings)
        values = [(f"{here}/targets/{i}", t) for i, t in enumerate(receiver.get("targets") or [])]
        values += [(_pointer(f"{here}/options", k), v) for k, v in (options or {}).items()]
        for pointer, value in values:
            for pattern, what in _SECRET_VALUES:
                if isinstance(value, str) and pattern.search(value):
                    problems.append(
                        ConfigProblem(
                            pointer,
                            f"looks like {what}: put it in a setting and reference the "
                            "setting's name (e.g. url_setting, token_setting)",
                        )
                    )
                    break
    used: set[str] = set()
    for index, receiver in enumerate(receivers or []):
        escalate = receiver.get("escalate") if isinstance(receiver, dict) else None
        target = escalate.get("to") if isinstance(escalate, dict) else None
        if not isinstance(target, str):
            continue
        used.add(target)  # an escalation target needs no route of its own
        here = f"/receivers/{index}/escalate/to"
        if known and target not in known:
            problems.append(ConfigProblem(here, f"no receiver named {target!r}"))
        elif target == receiver.get("name"):
            problems.append(ConfigProblem(here, "a receiver cannot escalate to itself"))
    for pointer, route in _iter_routes(data.get("route"), "/route"):
        for index, name in enumerate(route.get("receivers") or []):
            used.add(str(name))
            if isinstance(name, str) and known and name not in known:
                problems.append(
                    ConfigProblem(f"{pointer}/receivers/{index}", f"no receiver named {name!r}")
                )
        for section in ("match", "exclude"):
            matchers = route.get(section)
            if not isinstance(matchers, dict):
                continue
            for index, sub in enumerate(matchers.get("subscriptions") or []):
                if isinstance(sub, str) and not _GUID.match(sub):
                    problems.append(
                        ConfigProblem(
                            f"{pointer}/{section}/subscriptions/{index}",
                            f"{sub!r} is not a subscription ID (a GUID)",
                        )
                    )
    for name, pointer in known.items():
        if name not in used:
            warnings.append(f"{pointer}: receiver {name!r} is not used by any route")
    return problems, warnings


def placeholder_warnings(data: Any) -> list[str]:
    """Targets and option values at a reserved example name (the example file's
    ``ops@example.com``): valid, so not a problem, but nothing sent there arrives."""
    warnings: list[str] = []
    receivers = data.get("receivers") if isinstance(data, dict) else None
    for index, receiver in enumerate(receivers if isinstance(receivers, list) else []):
        if not isinstance(receiver, dict):
            continue
        here = f"/receivers/{index}"
        options = receiver.get("options") if isinstance(receiver.get("options"), dict) else {}
        values = [
            (f"{here}/targets/{i}", t, "nothing sent there arrives")
            for i, t in enumerate(receiver.get("targets") or [])
        ]
        values += [
            (
                _pointer(f"{here}/options", k),
                v,
                _PLACEHOLDER_COST.get(k, "replace it with your own"),
            )
            for k, v in (options or {}).items()
        ]
        for pointer, value, cost in values:
            if isinstance(value, str) and _PLACEHOLDER_HOST.search(value):
                warnings.append(
                    f"{pointer}: {value!r} is a placeholder (a reserved example name): {cost}"
                )
    return warnings


# What a placeholder costs where messages go through it; any other option (a sender address,
# an EHLO name) receives nothing, so "nothing arrives there" would be untrue of it.
_PLACEHOLDER_COST = {
    "smtp_host": "nothing sent through it arrives",
    "api_base": "nothing sent through it arrives",
}
