"""Fourteen days of hourly CPU readings for a VM, quiet at one hour of the week."""

from __future__ import annotations

from datetime import datetime, timedelta

from shared.standins.loganalytics_server import slot_of


def hourly_cpu(
    now: datetime, quiet_at: datetime, *, busy: float = 55.0, quiet: float = 4.0, days: int = 14
) -> list[tuple[datetime, float]]:
    """Readings every hour over ``days`` before ``now``: ``quiet`` % in the hour of the week of
    ``quiet_at``, ``busy`` % (varying a little by hour) otherwise."""
    quiet_slot = slot_of(quiet_at)
    start = now.replace(minute=30, second=0, microsecond=0) - timedelta(days=days)
    samples = []
    for hour in range(days * 24):
        moment = start + timedelta(hours=hour)
        if moment >= now:
            break
        load = quiet if slot_of(moment) == quiet_slot else busy + (moment.hour % 7)
        samples.append((moment, load))
    return samples
