"""Time parsing and formatting in one place.

Azure sends timestamps with any UTC offset (``+00:00``, ``-07:00``, ``Z``) and with up to seven
fractional digits (.NET ticks), which ``datetime.fromisoformat`` on Python 3.11 accepts only in
part. Everything inside forewarn is an aware UTC ``datetime``; everything on the wire is ISO 8601
with a ``Z``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

Clock = Callable[[], datetime]

_FRACTION = re.compile(r"(\.\d+)")


class InvalidTimestampError(ValueError):
    """A string that is not an ISO 8601 timestamp."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def parse_utc(text: str) -> datetime:
    """Parse an ISO 8601 timestamp with any offset; naive times are taken as UTC."""
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    # .NET writes 7 fractional digits; Python accepts at most 6.
    candidate = _FRACTION.sub(lambda match: match.group(1)[:7], candidate, count=1)
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError as error:
        raise InvalidTimestampError(f"not an ISO 8601 timestamp: {text!r}") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``, seconds precision (what people and tools compare)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # isoformat, not strftime: %Y writes year 999 as "999", which no ISO 8601 reader takes.
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def normalise_timestamp(text: str | None) -> str | None:
    """``None`` and empty stay ``None``; anything else becomes ISO 8601 UTC."""
    if text is None or not str(text).strip():
        return None
    return format_utc(parse_utc(str(text)))


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """A ``Retry-After`` header as seconds from ``now``: delta-seconds or an HTTP-date.

    ``None`` when absent or unreadable (a negative number included); a date in the past is 0.
    Every client of forewarn (ARM, the delivery channels) reads the header through this.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if moment.tzinfo is None:
            return None
        return max((moment - (now or utc_now())).total_seconds(), 0.0)
    return seconds if seconds >= 0 else None


_HMS = re.compile(r"^(\d{1,3}):([0-5]\d):([0-5]\d)(?:\.\d+)?$")


def duration_hms_seconds(value: str | None) -> float | None:
    """An ``hh:mm:ss`` duration (Resource Graph's ``x-ms-user-quota-resets-after``) in
    seconds, rounded up to the whole second; ``None`` when absent or unreadable."""
    match = _HMS.match((value or "").strip())
    if match is None:
        return None
    hours, minutes, seconds = (int(part) for part in match.groups())
    fraction = (value or "").strip().partition(".")[2]
    return float(hours * 3600 + minutes * 60 + seconds + (1 if fraction.strip("0") else 0))


# Durations as the routing file and the settings write them (90m, 36h, 3d, 1d12h, 2w)

_DURATION = re.compile(r"^(?=.)(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$")


class InvalidDurationError(ValueError):
    """Not a duration such as ``90m``, ``36h``, ``3d``, ``1d12h`` or ``2w``."""


def parse_duration(text: str) -> timedelta:
    found = _DURATION.match(text.strip())
    if not found:
        raise InvalidDurationError(f"not a duration (use e.g. 90m, 36h, 3d, 1d12h): {text!r}")
    weeks, days, hours, minutes = (int(part) if part else 0 for part in found.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes)


def format_duration(value: timedelta) -> str:
    minutes = int(value.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    return "".join(parts) or "0m"
