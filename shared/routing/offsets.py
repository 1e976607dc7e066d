"""Reminder offsets: when before a window closes or opens a receiver is reminded.

One set for everyone comes from ``FOREWARN_REMINDER_OFFSETS`` (default
``self_service=72h,24h;scheduled=24h``); a receiver in the routing file may have its own:

    receivers:
      - name: oncall-sms
        reminders: {self_service: [24h], scheduled: [4h]}   # a kind left out: none of it

The reminders timer works out reminders at every offset anyone wants; each reminder event says
its offset in its ``operation_name`` (``forewarn/wave/reminder/<which>-<offset>``), and routing
hands it only to the receivers whose own offsets (or, without their own, the setting's)
include it.

    ReminderSettingError   offsets that do not parse
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from shared import names
from shared.models import MaintenanceEvent
from shared.render.lifecycle import WAVE_OPERATION_PREFIX
from shared.telemetry import get_logger
from shared.timeutil import InvalidDurationError, parse_duration

log = get_logger(__name__)

DEFAULT_OFFSETS_TEXT = "self_service=72h,24h;scheduled=24h"
WHICH = ("self_service", "scheduled")
# shared/wave/notices.py names its reminder events so, after the wave timers' prefix.
REMINDER_OPERATION = f"{WAVE_OPERATION_PREFIX}reminder"


class ReminderSettingError(ValueError):
    """Reminder offsets that do not parse, e.g. ``self_service=3x``."""


def offset_text(offset: timedelta) -> str:
    """``72h``, or ``90m`` when not whole hours: the label's second half."""
    minutes = int(offset.total_seconds() // 60)
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def _offsets(which: str, values: list[str]) -> tuple[timedelta, ...]:
    try:
        offsets = [parse_duration(value.strip()) for value in values if value.strip()]
    except InvalidDurationError as error:
        raise ReminderSettingError(str(error)) from error
    if any(offset <= timedelta(0) for offset in offsets):
        raise ReminderSettingError(f"{which}: offsets must be longer than 0")
    return tuple(sorted(set(offsets), reverse=True))


@dataclass(frozen=True)
class ReminderOffsets:
    self_service: tuple[timedelta, ...] = (timedelta(hours=72), timedelta(hours=24))
    scheduled: tuple[timedelta, ...] = (timedelta(hours=24),)

    @classmethod
    def parse(cls, text: str | None) -> ReminderOffsets:
        """``self_service=72h,24h;scheduled=24h``; a kind left out gets no reminders."""
        if text is None or not text.strip():
            return cls()
        found: dict[str, tuple[timedelta, ...]] = {"self_service": (), "scheduled": ()}
        for part in text.split(";"):
            if not part.strip():
                continue
            which, _, values = part.partition("=")
            which = which.strip().replace("-", "_")
            if which not in WHICH:
                raise ReminderSettingError(f"{which!r} is not one of {', '.join(WHICH)}")
            found[which] = _offsets(which, values.split(","))
        return cls(found["self_service"], found["scheduled"])

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ReminderOffsets:
        """A routing file's ``reminders:`` mapping; a kind left out gets no reminders."""
        found = {
            which: _offsets(which, [str(value) for value in data.get(which) or []])
            for which in WHICH
        }
        return cls(found["self_service"], found["scheduled"])

    def labels(self) -> set[str]:
        """``self_service-72h``, ... : what a reminder event says its offset is."""
        return {f"self_service-{offset_text(o)}" for o in self.self_service} | {
            f"scheduled-{offset_text(o)}" for o in self.scheduled
        }

    def union(self, *others: ReminderOffsets) -> ReminderOffsets:
        every = (self, *others)
        return ReminderOffsets(
            tuple(sorted({o for one in every for o in one.self_service}, reverse=True)),
            tuple(sorted({o for one in every for o in one.scheduled}, reverse=True)),
        )


def reminder_offsets_from(environ: Mapping[str, str]) -> ReminderOffsets:
    """``FOREWARN_REMINDER_OFFSETS``; a bad value is logged and the default used, because
    reminders at the default offsets beat none."""
    try:
        return ReminderOffsets.parse(environ.get(names.SETTING_REMINDER_OFFSETS))
    except ReminderSettingError as error:
        log.warning("%s: %s; using %s", names.SETTING_REMINDER_OFFSETS, error, DEFAULT_OFFSETS_TEXT)
        return ReminderOffsets()


def reminder_label(event: MaintenanceEvent) -> str | None:
    """The offset a reminder event is about (``self_service-72h``); None for anything else."""
    operation = event.operation_name or ""
    if not operation.startswith(REMINDER_OPERATION + "/"):
        return None
    return operation[len(REMINDER_OPERATION) + 1 :] or None


def wants_reminder(
    receiver: str,
    label: str,
    own: Mapping[str, ReminderOffsets],
    fallback: ReminderOffsets,
) -> bool:
    """Whether ``receiver`` is reminded at ``label``: by its own offsets, else the setting's."""
    return label in own.get(receiver, fallback).labels()
