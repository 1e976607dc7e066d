"""Single fields of an activity-log event, normalised: timestamps, level, test flag, event id.

Each reads one value from the payload and either returns what the next stages can rely on
or appends a ``Problem`` naming the field.
"""

from __future__ import annotations

import hashlib
from typing import Any

from shared.models import EventKind
from shared.parsing.errors import Problem
from shared.parsing.validate import pointer
from shared.timeutil import normalise_timestamp, parse_utc

# Integer enums in common-schema Service Health payloads are not documented; these follow the
# order of Azure Monitor's EventLevel enum (Critical, Error, Warning, Informational, Verbose),
# which matches the samples (standard planned maintenance arrives as 3 = Informational).
EARLIEST_YEAR = 1900
_LEVELS_BY_NUMBER = {0: "Critical", 1: "Error", 2: "Warning", 3: "Informational", 4: "Verbose"}


def timestamp(
    container: dict[str, Any], key: str, base: str, errors: list[Problem], *, nested: bool = True
) -> str | None:
    value = container.get(key)
    if value is None:
        return None
    where = pointer(base, "properties", key) if nested else pointer(base, key)
    if not isinstance(value, str):
        errors.append(Problem(where, "must be an ISO 8601 timestamp string"))
        return None
    try:
        normalised = normalise_timestamp(value)
    except ValueError:  # InvalidTimestampError, and out-of-range dates
        errors.append(Problem(where, f"is not an ISO 8601 timestamp: {value[:40]!r}"))
        return None
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        errors.append(Problem(where, f"is outside the years 1 to 9999 in UTC: {value[:40]!r}"))
        return None
    # Every stage can carry any year now, but no notice of Azure's is about a time before
    # 1900: such a value is a mistake (or a fuzzer), and saying so beats planning around it.
    if normalised is not None and parse_utc(normalised).year < EARLIEST_YEAR:
        errors.append(Problem(where, f"is before {EARLIEST_YEAR}: {value[:40]!r}"))
        return None
    return normalised


def level(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _LEVELS_BY_NUMBER.get(value, str(value))
    if isinstance(value, str) and value:
        return value
    return None


def is_synthetic(properties: dict[str, Any]) -> bool:
    for key in ("IsSynthetic", "isSynthetic"):
        value = properties.get(key)
        if value is True or (isinstance(value, str) and value.strip().lower() == "true"):
            return True
    return False


def event_id(
    *,
    kind: EventKind,
    subscription_ids: list[str],
    tracking_id: str | None,
    communication_id: str | None,
    stage: str | None,
    event_data_id: Any,
    operation_name: str | None,
    status: str | None,
    event_time: str | None,
    resource_ids: list[str],
) -> str:
    """A stable key: an Action Group retry, or a second rule firing on the same activity-log
    event, yields the same id; a new communication (Planned -> Rescheduled) yields a new one."""
    if kind == "service_health":
        parts = [
            kind,
            *sorted(s.lower() for s in subscription_ids),
            tracking_id or "",
            communication_id or str(event_data_id or ""),
            stage or "",
        ]
    else:
        parts = [
            kind,
            *sorted(s.lower() for s in subscription_ids),
            str(event_data_id or ""),
            # ARM names are case-insensitive, and AzureActivity stores them upper-cased: the
            # catch-up must find the id the webhook gave the same event.
            (operation_name or "").lower(),
            (status or "").lower(),
            event_time or "",
            *sorted(r.lower() for r in resource_ids),
        ]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]
