"""Silences: matching VMs or waves are held out of messages for a while (Azure's notices in
the route stage, shared/routing/silencing.py; the sweep's and the reminders' here).

A silence has matchers (all keys must hold; values are case-insensitive, ``vm`` and
``resource_group`` take globs) and an end. ``--match`` text is ``key=value`` pairs separated by
commas: ``subscription``, ``resource_group``, ``vm``, ``vm_id``, ``tracking_id``, ``tag.NAME``.
A key given more than once holds when any of its values does (``vm=web-01,vm=web-02`` holds
both VMs); a stored key with one value is a string, with several a list.

A silence never hides a deadline without saying so: a notice whose deadline (``due``) passes
before the silence ends is sent once anyway, saying so, and later ones about the same VM and
deadline are held back. Held-back notices still count as sent (their records say
``silenced:<id>``), so nothing floods out when the silence ends.

    SilenceError
    ├── SilenceMatchError      ``--match`` text that does not parse
    └── SilenceNotFoundError   no silence with that id
"""

from __future__ import annotations

import json
import threading
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from fnmatch import fnmatchcase
from typing import Any

from shared.models import VirtualMachine
from shared.storage import EntityTable
from shared.timeutil import format_utc, parse_utc

MATCH_KEYS = ("subscription", "resource_group", "vm", "vm_id", "tracking_id")
PARTITION = "silence"


class SilenceError(Exception):
    """Base class of silence failures."""


class SilenceMatchError(SilenceError):
    """``--match`` text that is not ``key=value[,key=value…]`` with known keys."""


class SilenceNotFoundError(SilenceError):
    """No silence has that id."""


MatchValue = str | list[str]


def values_of(wanted: MatchValue) -> list[str]:
    """A matcher's values: one (a string, as stored before keys could repeat) or several."""
    return [wanted] if isinstance(wanted, str) else list(wanted)


def match_text(match: dict[str, MatchValue]) -> str:
    """``key=value,key=value`` as ``--match`` takes it, a repeated key once per value."""
    return ",".join(
        f"{key}={value}" for key, wanted in sorted(match.items()) for value in values_of(wanted)
    )


def parse_match(text: str) -> dict[str, MatchValue]:
    """``key=value[,key=value…]``; a repeated key keeps every value (any of them holds)."""
    found: dict[str, list[str]] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not value:
            raise SilenceMatchError(f"{part.strip()!r}: expected key=value")
        if key not in MATCH_KEYS and not (key.startswith("tag.") and len(key) > 4):
            raise SilenceMatchError(f"{key!r}: use one of {', '.join(MATCH_KEYS)} or tag.NAME")
        values = found.setdefault(key, [])
        if value.lower() not in (seen.lower() for seen in values):
            values.append(value)
    if not found:
        raise SilenceMatchError("a silence needs at least one matcher")
    return {key: values[0] if len(values) == 1 else values for key, values in found.items()}


def _glob(value: str | None, pattern: str) -> bool:
    return value is not None and fnmatchcase(value.lower(), pattern.lower())


def _holds(
    key: str, wanted: str, vm: VirtualMachine, tags: dict[str, str], tracking_id: str | None
) -> bool:
    """One value of one matcher, for one VM of a wave."""
    if key == "subscription":
        return vm.subscription_id.lower() == wanted.lower()
    if key == "resource_group":
        return _glob(vm.resource_group, wanted)
    if key == "vm":
        return _glob(vm.name, wanted)
    if key == "vm_id":
        return vm.id.lower() == wanted.lower()
    if key == "tracking_id":
        return (tracking_id or "").lower() == wanted.lower()
    return _glob(tags.get(key[4:]), wanted)


@dataclass(frozen=True)
class Silence:
    id: str
    match: dict[str, MatchValue]
    starts: str
    ends: str
    comment: str = ""
    expired_at: str | None = None

    def active(self, now: datetime) -> bool:
        if self.expired_at is not None and parse_utc(self.expired_at) <= now:
            return False
        return parse_utc(self.starts) <= now < parse_utc(self.ends)

    def matches(self, vm: VirtualMachine, tracking_id: str | None) -> bool:
        tags = {key.lower(): value for key, value in vm.tags.items()}
        return all(
            any(_holds(key, value, vm, tags, tracking_id) for value in values_of(wanted))
            for key, wanted in self.match.items()
        )

    def to_entity(self) -> dict[str, Any]:
        return {
            "match": json.dumps(self.match, sort_keys=True),
            "starts": self.starts,
            "ends": self.ends,
            "comment": self.comment,
            "expired_at": self.expired_at or "",
        }

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> Silence:
        return cls(
            id=str(entity["RowKey"]),
            match=dict(json.loads(entity["match"])),
            starts=str(entity["starts"]),
            ends=str(entity["ends"]),
            comment=str(entity.get("comment") or ""),
            expired_at=str(entity.get("expired_at") or "") or None,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "match": self.match,
            "starts": self.starts,
            "ends": self.ends,
            "comment": self.comment,
            "expired_at": self.expired_at,
        }


def new_silence(
    match: Mapping[str, MatchValue], until: datetime, now: datetime, comment: str
) -> Silence:
    return Silence(uuid.uuid4().hex[:12], dict(match), format_utc(now), format_utc(until), comment)


class SilenceStore(ABC):
    @abstractmethod
    def put(self, silence: Silence) -> None: ...

    @abstractmethod
    def all(self) -> list[Silence]: ...

    def active(self, now: datetime) -> list[Silence]:
        return [silence for silence in self.all() if silence.active(now)]

    def expire(self, silence_id: str, now: datetime) -> Silence:
        for silence in self.all():
            if silence.id == silence_id:
                ended = replace(silence, expired_at=format_utc(now))
                self.put(ended)
                return ended
        raise SilenceNotFoundError(f"no silence {silence_id!r}")


@dataclass
class InMemorySilenceStore(SilenceStore):
    silences: dict[str, Silence] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, silence: Silence) -> None:
        with self._lock:
            self.silences[silence.id] = silence

    def all(self) -> list[Silence]:
        return sorted(self.silences.values(), key=lambda s: (s.starts, s.id))


class TableSilenceStore(SilenceStore):
    """Entities in the ``silences`` table, one partition (there are few silences)."""

    def __init__(self, table: EntityTable) -> None:
        self._table = table

    def put(self, silence: Silence) -> None:
        self._table.upsert(PARTITION, silence.id, silence.to_entity())

    def all(self) -> list[Silence]:
        found = []
        for entity in self._table.query(PARTITION):
            try:
                found.append(Silence.from_entity(entity))
            except (KeyError, TypeError, ValueError):
                continue  # one hand-edited row must not lift every other silence
        return sorted(found, key=lambda s: (s.starts, s.id))


# --------------------------------------------------------------------------------------
# Applied to the notices of one pass


@dataclass(frozen=True)
class Verdict:
    send: bool
    silence: Silence | None = None
    note: str = ""  # said in the message when a silence could not hide it


def judge(
    vm: VirtualMachine,
    tracking_id: str | None,
    due: str | None,
    silences: list[Silence],
    already_said: bool,
) -> Verdict:
    """Whether a notice goes out under the active ``silences``.

    ``already_said``: this VM's record shows the deadline was already sent through this silence.
    """
    holding = [s for s in silences if s.matches(vm, tracking_id)]
    if not holding:
        return Verdict(True)
    ends_last = max(holding, key=lambda s: s.ends)
    if due is not None and parse_utc(due) < parse_utc(ends_last.ends) and not already_said:
        note = (
            f"Sent despite silence {ends_last.id} (until {ends_last.ends}): its deadline "
            f"{due} passes before the silence ends. Later messages about it stay silenced."
        )
        return Verdict(True, ends_last, note)
    return Verdict(False, ends_last)
