"""The routing file as typed, immutable records (built only from a file that validated).

RoutingConfig   receivers by name + the root ``Route`` (the default route)
Escalation      a receiver's ``escalate: {to, before}``
Route           matchers, receivers, ``continue`` and child routes, in file order
Match           what a route matches on; several fields must all hold, a list is any-of
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from shared.models import Receiver
from shared.routing.offsets import ReminderOffsets
from shared.timeutil import format_duration, parse_duration


def normalise_region(name: str) -> str:
    """``East US``, ``eastus`` and ``EastUS`` are one region to Azure; compare them so."""
    return re.sub(r"[\s_-]+", "", name).lower()


@dataclass(frozen=True)
class Match:
    subscriptions: tuple[str, ...] = ()
    resource_groups: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    tags: tuple[tuple[str, tuple[str, ...]], ...] = ()
    vm_names: tuple[str, ...] = ()
    event_kinds: tuple[str, ...] = ()
    incident_types: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    advice_actions: tuple[str, ...] = ()
    window_opens_within: timedelta | None = None
    window_closes_within: timedelta | None = None

    @property
    def is_empty(self) -> bool:
        return self == Match()

    @property
    def needs_vm(self) -> bool:
        """Matchers that only a VM can satisfy; an event without VMs never meets them."""
        return bool(self.resource_groups or self.tags or self.vm_names or self.advice_actions)

    def describe(self) -> str:
        parts: list[str] = []
        plain = (
            ("subscription", self.subscriptions),
            ("resource group", self.resource_groups),
            ("region", self.regions),
            ("VM name", self.vm_names),
            ("event kind", self.event_kinds),
            ("incident type", self.incident_types),
            ("stage", self.stages),
            ("advice", self.advice_actions),
        )
        for label, values in plain:
            if values:
                parts.append(f"{label} {'|'.join(values)}")
        for key, values in self.tags:
            parts.append(f"tag {key}={'|'.join(values)}")
        if self.window_opens_within is not None:
            parts.append(f"window opens within {format_duration(self.window_opens_within)}")
        if self.window_closes_within is not None:
            parts.append(f"window closes within {format_duration(self.window_closes_within)}")
        return ", ".join(parts) or "everything"

    @classmethod
    def from_json(cls, data: Mapping[str, object] | None) -> Match:
        if not data:
            return cls()

        def strings(key: str) -> tuple[str, ...]:
            value = data.get(key) or []
            return tuple(str(item) for item in value) if isinstance(value, list) else ()

        tags_raw = data.get("tags") or {}
        tags: list[tuple[str, tuple[str, ...]]] = []
        if isinstance(tags_raw, Mapping):
            for key, value in tags_raw.items():
                allowed = (
                    tuple(str(item) for item in value) if isinstance(value, list) else (str(value),)
                )
                tags.append((str(key), allowed))
        opens = data.get("window_opens_within")
        closes = data.get("window_closes_within")
        return cls(
            subscriptions=strings("subscriptions"),
            resource_groups=strings("resource_groups"),
            regions=strings("regions"),
            tags=tuple(tags),
            vm_names=strings("vm_names"),
            event_kinds=strings("event_kinds"),
            incident_types=strings("incident_types"),
            stages=strings("stages"),
            advice_actions=strings("advice_actions"),
            window_opens_within=parse_duration(str(opens)) if opens else None,
            window_closes_within=parse_duration(str(closes)) if closes else None,
        )


@dataclass(frozen=True)
class Route:
    """One node of the route tree; ``label`` is its ``name`` or its JSON pointer in the file."""

    label: str
    pointer: str
    match: Match
    exclude: Match | None
    receivers: tuple[str, ...]
    continue_matching: bool = False
    routes: tuple[Route, ...] = ()

    def describe(self) -> str:
        text = f"route {self.label}"
        if not self.match.is_empty:
            text += f" ({self.match.describe()}"
            text += f"; except {self.exclude.describe()})" if self.exclude else ")"
        elif self.exclude:
            text += f" (except {self.exclude.describe()})"
        return text


@dataclass(frozen=True)
class Escalation:
    """``escalate: {to: RECEIVER, before: 24h}`` on a receiver: a VM of its to start yourself
    that nobody has claimed or started ``before`` its self-service window closes is escalated
    once to ``to`` (shared/wave/escalations.py)."""

    to: str
    before: timedelta


@dataclass(frozen=True)
class RoutingConfig:
    receivers: Mapping[str, Receiver]
    root: Route
    source: str = "<memory>"
    warnings: tuple[str, ...] = field(default=())
    # Receivers' own reminder offsets (``reminders:``), by name; others use the setting's.
    reminders: Mapping[str, ReminderOffsets] = field(default_factory=dict)
    # Receivers' ``escalate:`` by name (the receiver whose VMs are watched -> where to).
    escalations: Mapping[str, Escalation] = field(default_factory=dict)
    # Who may press Start now on each receiver's messages (``start_from_message: {allow}``),
    # lower-cased; a receiver not named here allows nobody.
    start_allow: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def receiver(self, name: str) -> Receiver:
        return self.receivers[name]

    def may_start(self, receiver: str, person: str) -> bool:
        """``person`` (a Slack user id or an Entra sign-in name) is on ``receiver``'s list."""
        return person.strip().lower() in self.start_allow.get(receiver, frozenset())
