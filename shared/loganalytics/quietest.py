"""The quietest hour of each VM inside its self-service window: one query per event.

One query for all the event's VMs advised to self-serve returns, per VM (one row each), the
average CPU of each hour of the week over the last 14 days (VM insights ``InsightsMetrics``
or the agent's ``Perf``; ``union isfuzzy=true`` so a workspace with only one of them still
answers). The choice happens here, not in KQL: for each hour of the week that VM has data for,
its first occurrence that fits whole inside the window (and after now); the lowest load wins,
the earlier hour on a tie. A VM without data, or whose window holds none of its hours, has no hint.

Hours of the week count as KQL's ``dayofweek`` does, from Sunday 00:00 UTC: slot 0 is Sunday
00:00-01:00, slot 167 Saturday 23:00-24:00.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Final

from shared.loganalytics import LogsError
from shared.loganalytics.client import LogsReader
from shared.loganalytics.kql import KqlQuery
from shared.models import EnrichmentNote, QuietestHour, VirtualMachine
from shared.timeutil import format_utc

log = logging.getLogger(__name__)

QUERY_NAME: Final = "quietest-hour"
LOOKBACK: Final = timedelta(days=14)
HOURS_PER_WEEK: Final = 168
QUERY_TEMPLATE: Final = """let ids = todynamic(p.vm_ids);
union isfuzzy=true
    (InsightsMetrics
    | where Namespace == "Processor" and Name == "UtilizationPercentage"
    | project TimeGenerated, id = tolower(_ResourceId), load = Val),
    (Perf
    | where ObjectName == "Processor" and CounterName == "% Processor Time"
        and InstanceName == "_Total"
    | project TimeGenerated, id = tolower(_ResourceId), load = CounterValue)
| where id in (ids)
| extend vm = array_index_of(ids, id),
    slot = toint(dayofweek(TimeGenerated) / 1d) * 24 + hourofday(TimeGenerated)
| summarize load = round(avg(load), 1), samples = count() by vm, slot
| summarize slots = make_list(pack_array(slot, load, samples), 168) by vm"""

NOTE_NO_PERFORMANCE_DATA: Final = "no_performance_data"
# Notes about the hints, not the VMs: an answer that carries only these is still whole.
INFORMATIONAL_NOTES: Final = frozenset({NOTE_NO_PERFORMANCE_DATA})
NO_PERFORMANCE_DATA: Final = (
    "no quietest-hour hints: the Log Analytics workspace holds no processor data for these "
    "VMs (14 days of VM insights InsightsMetrics or agent Perf); send it there, or see "
    "docs/configuration.md (Log Analytics)"
)

SlotLoads = dict[int, tuple[float, int]]  # slot -> (average load, samples)


def quietest_query(vm_ids: Sequence[str]) -> KqlQuery:
    """The query for these VMs; a row's ``vm`` is an index into ``vm_ids``."""
    return KqlQuery(QUERY_NAME, QUERY_TEMPLATE, {"vm_ids": [vm_id.lower() for vm_id in vm_ids]})


def slot_of(moment: datetime) -> int:
    return ((moment.weekday() + 1) % 7) * 24 + moment.hour


def first_occurrence(slot: int, start: datetime, end: datetime) -> datetime | None:
    """The first whole hour of the week ``slot`` inside [start, end), or ``None``."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    if hour < start:
        hour += timedelta(hours=1)
    moment = hour + timedelta(hours=(slot - slot_of(hour)) % HOURS_PER_WEEK)
    return moment if moment + timedelta(hours=1) <= end else None


def quietest_in_window(loads: SlotLoads, start: datetime, end: datetime) -> QuietestHour | None:
    best: tuple[float, datetime, int] | None = None
    for slot, (load, samples) in loads.items():
        moment = first_occurrence(slot, start, end)
        if moment is not None and (best is None or (load, moment) < best[:2]):
            best = (load, moment, samples)
    if best is None:
        return None
    load, moment, samples = best
    return QuietestHour(
        start=format_utc(moment),
        end=format_utc(moment + timedelta(hours=1)),
        load_percent=load,
        samples=samples,
    )


def wants_hint(vm: VirtualMachine) -> bool:
    status = vm.maintenance
    return (
        vm.advice.action == "self_service"
        and status is not None
        and status.self_service_window.start_dt is not None
        and status.self_service_window.end_dt is not None
    )


def _loads(rows: list[dict[str, Any]], count: int) -> dict[int, SlotLoads]:
    """Per VM index, its slots. One row per VM: ``slots`` is ``[[slot, load, samples], ...]``
    (one row per VM rather than per hour: 2,000 rows to read instead of 336,000)."""
    found: dict[int, SlotLoads] = defaultdict(dict)
    for row in rows:
        try:
            index = int(row["vm"])
            slots = row["slots"]
            if isinstance(slots, str):  # the API returns ``dynamic`` as JSON text
                slots = json.loads(slots)
            readings = [(int(s), float(load), int(n or 0)) for s, load, n in slots]
        except (KeyError, TypeError, ValueError):
            continue  # a row we cannot read is no hint, not a failed event
        for slot, load, samples in readings:
            if 0 <= index < count and 0 <= slot < HOURS_PER_WEEK and load == load:  # not NaN
                found[index][slot] = (load, samples)
    return found


def add_quietest_hours(
    vms: list[VirtualMachine], reader: LogsReader | None, now: datetime
) -> tuple[list[VirtualMachine], list[EnrichmentNote]]:
    """The VMs with ``quietest_hour`` set where the workspace knows one; notes for trouble.

    One query, whatever the number of VMs; none at all without a reader or a VM to hint."""
    wanted = [vm for vm in vms if wants_hint(vm)]
    if reader is None or not wanted:
        return vms, []
    try:
        result = reader.query(quietest_query([vm.id for vm in wanted]), (now - LOOKBACK, now))
    except LogsError as error:
        log.warning("quietest hours unknown: %s", error)
        return vms, [EnrichmentNote("logs_unavailable", f"no quietest-hour hints: {error}")]
    notes = []
    if not result.rows and not result.partial_error:
        # Not one VM has CPU data: the workspace is not where they report (the app's own
        # workspace holds only the Activity Log unless VM insights sends there too).
        notes.append(EnrichmentNote(NOTE_NO_PERFORMANCE_DATA, NO_PERFORMANCE_DATA))
    if result.partial_error:
        notes.append(
            EnrichmentNote(
                "logs_partial", f"quietest-hour hints may be missing: {result.partial_error}"
            )
        )
    loads = _loads(result.rows, len(wanted))
    hints: dict[str, QuietestHour] = {}
    for index, vm in enumerate(wanted):
        window = vm.maintenance.self_service_window if vm.maintenance else None
        if index in loads and window and window.start_dt and window.end_dt:
            hint = quietest_in_window(loads[index], max(window.start_dt, now), window.end_dt)
            if hint is not None:
                hints[vm.id] = hint
    return [replace(vm, quietest_hour=hints.get(vm.id)) for vm in vms], notes
