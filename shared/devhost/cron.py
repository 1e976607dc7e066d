"""NCRONTAB schedules as timer triggers write them: ``sec min hour day month day-of-week``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

_RANGES = ((0, 59), (0, 59), (0, 23), (1, 31), (1, 12), (0, 6))


class InvalidScheduleError(ValueError):
    pass


def _field(text: str, low: int, high: int) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            start_text, end_text = part.split("-", 1)
            start, end = int(start_text), int(end_text)
        else:
            start = end = int(part)
        if start < low or end > high or step < 1:
            raise InvalidScheduleError(f"{text!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@dataclass(frozen=True)
class CronSchedule:
    fields: tuple[frozenset[int], ...]

    @classmethod
    def parse(cls, expression: str) -> CronSchedule:
        parts = expression.split()
        if len(parts) != 6:
            raise InvalidScheduleError(f"NCRONTAB needs 6 fields, got {expression!r}")
        try:
            return cls(tuple(_field(p, lo, hi) for p, (lo, hi) in zip(parts, _RANGES, strict=True)))
        except ValueError as error:
            raise InvalidScheduleError(str(error)) from error

    def matches(self, moment: datetime) -> bool:
        second, minute, hour, day, month, weekday = self.fields
        return (
            moment.second in second
            and moment.minute in minute
            and moment.hour in hour
            and moment.day in day
            and moment.month in month
            and (moment.isoweekday() % 7) in weekday
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first matching whole second after ``moment`` (searches up to a year ahead)."""
        candidate = moment.replace(microsecond=0) + timedelta(seconds=1)
        limit = candidate + timedelta(days=366)
        while candidate < limit:
            if candidate.month not in self.fields[4] or candidate.day not in self.fields[3]:
                candidate = (candidate + timedelta(days=1)).replace(hour=0, minute=0, second=0)
                continue
            if candidate.hour not in self.fields[2]:
                candidate = (candidate + timedelta(hours=1)).replace(minute=0, second=0)
                continue
            if candidate.minute not in self.fields[1]:
                candidate = (candidate + timedelta(minutes=1)).replace(second=0)
                continue
            if self.matches(candidate):
                return candidate
            candidate += timedelta(seconds=1)
        raise InvalidScheduleError("schedule never fires")
