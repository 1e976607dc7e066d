"""The board: where a wave stands, VM by VM, built from the records and the claims.

One row per VM of the wave: its state, the advice, the self-service window (its end is the
deadline for starting it yourself), Azure's scheduled window, who has it (claims), whether its
reminders are snoozed, the step of the plan as it stands now and the quietest hour, and who
was told what when (the record's sends). ``forewarn wave show`` prints it, ``GET
/api/waves/{tracking_id}`` draws it (shared/board.py, shared/render/board.py).

Pure: records, ownership and the moment come in, a typed ``Board`` comes out; times stay UTC
``datetime`` and each reader (the CLI, the page) writes them in the zone it shows.

The plan is made again for the moment the board is read (``plan_maintenance`` over the open
VMs advised to start themselves), as ``forewarn plan`` would make it now: the plan a message
carried was made for the moment it was sent, and steps already past would only mislead.

``audit_rows`` is the hook for what people did to a VM from a message (Start now, issue 22):
rows given to ``build_board`` land on their VM's ``audit`` and on the board's ``audit_rows``.

    BoardError
    └── WaveNotFoundError   no record of that wave
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.enrich.plan import PlanSettings, plan_maintenance
from shared.models import QuietestHour, TimeWindow
from shared.timeutil import format_utc, parse_utc
from shared.wave.claims import Ownership, owner_text
from shared.wave.records import ABOUT_TRACKING, MaintenanceRecord, RecordStatus

WEEK = timedelta(days=7)
NO_TRACKING_ID = "-"  # how a record without a tracking id is listed

STATE_TEXT: dict[str, str] = {
    "pending": "to do",
    "rescheduled": "rescheduled",
    "self_service_started": "started",
    "completed": "done",
    "gone": "deleted",
}
ADVICE_TEXT: dict[str, str] = {
    "self_service": "start it yourself",
    "let_azure": "let Azure do it",
    "avoid_self_service": "don't self-serve",
    "none": "no action",
}
# What a send of each kind was, as a person reads it in the "told" column.
TOLD_TEXT: dict[str, str] = {
    "announced": "Azure's notice",
    "vm_added": "added mid-wave",
    "rescheduled": "windows changed",
    "completed": "done",
    "gone": "deleted",
    "started": "maintenance started",
    "reminder": "reminder",
    "resolved": "Azure closed the wave (resolved)",
    "complete": "Azure closed the wave (complete)",
    "completed_stage": "Azure closed the wave (completed)",
    "canceled": "Azure closed the wave (canceled)",
    "cancelled": "Azure closed the wave (cancelled)",
}
# Sends that are bookkeeping, not something anyone was told: a silence's note already said,
# and a reminder folded into a nearer one (its notice id is empty).
_BOOKKEEPING = frozenset({"silence_said"})


class BoardError(Exception):
    """Base class of board failures."""


class WaveNotFoundError(BoardError):
    """forewarn holds no record of that wave."""


@dataclass(frozen=True)
class AuditRow:
    """Something a person did to a VM from a message or a link (Start now: issue 22)."""

    vm_id: str
    at: str  # ISO 8601 UTC
    by: str
    action: str  # e.g. "start_now"
    outcome: str  # e.g. "accepted", "refused: not allowed now"

    def to_json(self) -> dict[str, Any]:
        return {
            "vm_id": self.vm_id,
            "at": self.at,
            "by": self.by,
            "action": self.action,
            "outcome": self.outcome,
        }


@dataclass(frozen=True)
class ToldRow:
    """One message about the VM: when, what, to whom; or held back by a silence."""

    at: str  # ISO 8601 UTC
    kind: str
    what: str
    receivers: tuple[str, ...] = ()
    held_by: str | None = None  # the silence that held it back
    # Azure's notice of a wave Azure re-issued under a new tracking id: the id it came under,
    # the one the Azure portal lists it by (None: this wave's own id, or an older row).
    under_tracking_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "kind": self.kind,
            "what": self.what,
            "receivers": list(self.receivers),
            "held_by": self.held_by,
            "under_tracking_id": self.under_tracking_id,
        }


@dataclass(frozen=True)
class StepMark:
    """The VM's step in the plan as it stands now."""

    order: int
    of: int  # steps in the plan
    start: datetime
    end: datetime
    quietest: bool  # starts at the VM's (or a step mate's) quietest hour


@dataclass(frozen=True)
class BoardVm:
    vm_id: str
    name: str
    resource_group: str
    subscription_id: str
    state: RecordStatus
    advice: str
    self_service_window: TimeWindow
    scheduled_window: TimeWindow
    owners: dict[str, str] = field(default_factory=dict)  # receiver ("" none) -> person
    snoozed_until: datetime | None = None
    step: StepMark | None = None
    quietest_hour: QuietestHour | None = None
    told: tuple[ToldRow, ...] = ()
    audit: tuple[AuditRow, ...] = ()

    @property
    def is_open(self) -> bool:
        return self.state in ("pending", "rescheduled", "self_service_started")

    @property
    def state_text(self) -> str:
        return STATE_TEXT.get(self.state, self.state)

    @property
    def advice_text(self) -> str:
        return ADVICE_TEXT.get(self.advice, self.advice)

    @property
    def deadline(self) -> datetime | None:
        """By when to start it yourself: the self-service window's end, while that matters."""
        if not self.is_open or self.advice != "self_service":
            return None
        return self.self_service_window.end_dt

    @property
    def owner(self) -> str:
        """``Alice`` or ``Alice and Bob``; empty when nobody has claimed it."""
        return owner_text(self.owners)

    def to_json(self) -> dict[str, Any]:
        step = self.step
        hint = self.quietest_hour
        return {
            "vm_id": self.vm_id,
            "name": self.name,
            "resource_group": self.resource_group,
            "subscription_id": self.subscription_id,
            "state": self.state,
            "advice": self.advice,
            "deadline": _iso(self.deadline),
            "self_service_window": _window(self.self_service_window),
            "scheduled_window": _window(self.scheduled_window),
            "owners": [{"receiver": r or None, "by": by} for r, by in sorted(self.owners.items())],
            "snoozed_until": _iso(self.snoozed_until),
            "plan_step": None
            if step is None
            else {
                "order": step.order,
                "of": step.of,
                "start": format_utc(step.start),
                "end": format_utc(step.end),
                "quietest": step.quietest,
            },
            "quietest_hour": None
            if hint is None
            else {"start": hint.start, "end": hint.end, "load_percent": hint.load_percent},
            "told": [row.to_json() for row in self.told],
            "audit": [row.to_json() for row in self.audit],
        }


@dataclass(frozen=True)
class Board:
    tracking_id: str
    now: datetime
    vms: tuple[BoardVm, ...]
    # Issue 22's Start-now rows (and any later action that leaves a trace): empty until then.
    audit_rows: tuple[AuditRow, ...] = ()

    @property
    def open_count(self) -> int:
        return sum(vm.is_open for vm in self.vms)

    @property
    def claimed_count(self) -> int:
        return sum(bool(vm.owners) for vm in self.vms if vm.is_open)

    def to_json(self) -> dict[str, Any]:
        return {
            "tracking_id": self.tracking_id,
            "now": format_utc(self.now),
            "vms": [vm.to_json() for vm in self.vms],
            "audit_rows": [row.to_json() for row in self.audit_rows],
        }


@dataclass(frozen=True)
class WaveSummary:
    """One line of ``forewarn wave show`` without an id."""

    tracking_id: str
    vms: int
    open: int
    claimed: int  # open VMs somebody has
    next_deadline: datetime | None  # the earliest self-service end of an open advised VM
    updated_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "tracking_id": self.tracking_id,
            "vms": self.vms,
            "open": self.open,
            "claimed": self.claimed,
            "next_deadline": _iso(self.next_deadline),
            "updated_at": self.updated_at,
        }


# --------------------------------------------------------------------------------------
# Building


def _same_wave(record: MaintenanceRecord, tracking_id: str) -> bool:
    return (record.tracking_id or NO_TRACKING_ID).lower() == tracking_id.strip().lower()


def build_board(
    tracking_id: str,
    records: Iterable[MaintenanceRecord],
    ownership: Ownership,
    now: datetime,
    *,
    plan_settings: PlanSettings | None = None,
    audit_rows: Iterable[AuditRow] = (),
) -> Board:
    """The board of one wave; ``WaveNotFoundError`` when no record belongs to it."""
    mine = [record for record in records if _same_wave(record, tracking_id)]
    if not mine:
        raise WaveNotFoundError(f"no record of wave {tracking_id!r}")
    audit = tuple(sorted(audit_rows, key=lambda row: (row.at, row.vm_id)))
    steps = _steps(mine, now, plan_settings)
    rows = [_row(record, ownership, now, steps.get(record.vm_id.lower()), audit) for record in mine]
    rows.sort(key=_order)
    return Board(mine[0].tracking_id or NO_TRACKING_ID, now, tuple(rows), audit)


def _order(vm: BoardVm) -> tuple[bool, datetime | str, str, str]:
    """Open VMs first, the nearest deadline (or Azure's start) first, then by name."""
    first = vm.deadline or vm.scheduled_window.start_dt or vm.self_service_window.end_dt
    return (not vm.is_open, first or "~", vm.name.lower(), vm.vm_id.lower())


def _steps(
    records: list[MaintenanceRecord], now: datetime, settings: PlanSettings | None
) -> dict[str, StepMark]:
    todo = [
        record.vm
        for record in records
        if record.status in ("pending", "rescheduled") and record.advice == "self_service"
    ]
    plan = plan_maintenance(todo, now, settings)
    if plan is None:
        return {}
    found: dict[str, StepMark] = {}
    for step in plan.steps:
        window = TimeWindow(step.start, step.end)
        if window.start_dt is None or window.end_dt is None:
            continue
        mark = StepMark(step.order, len(plan.steps), window.start_dt, window.end_dt, step.quietest)
        for vm_id in step.vm_ids:
            found[vm_id.lower()] = mark
    return found


def _row(
    record: MaintenanceRecord,
    ownership: Ownership,
    now: datetime,
    step: StepMark | None,
    audit: tuple[AuditRow, ...],
) -> BoardVm:
    snoozed = ownership.snoozed_until(record.vm_id)
    key = record.vm_id.lower()
    return BoardVm(
        vm_id=record.vm_id,
        name=record.vm.name,
        resource_group=record.vm.resource_group,
        subscription_id=record.subscription_id,
        state=record.status,
        advice=record.advice,
        self_service_window=record.self_service_window,
        scheduled_window=record.scheduled_window,
        owners=ownership.owners_of(record.vm_id, record.tracking_id),
        snoozed_until=snoozed if snoozed is not None and snoozed > now else None,
        step=step,
        quietest_hour=record.vm.quietest_hour,
        told=told_rows(record),
        audit=tuple(row for row in audit if row.vm_id.lower() == key),
    )


def told_rows(record: MaintenanceRecord) -> tuple[ToldRow, ...]:
    """The record's sends as people read them, oldest first, bookkeeping left out."""
    rows = []
    for notice in record.sent:
        if notice.kind in _BOOKKEEPING or (notice.kind == "reminder" and not notice.notice_id):
            continue
        held = notice.notice_id.startswith("silenced:")
        about, _, wave = notice.about.partition(ABOUT_TRACKING)
        other = wave if wave and wave.lower() != (record.tracking_id or "").lower() else None
        rows.append(
            ToldRow(
                at=notice.at,
                kind=notice.kind,
                what=_told_text(notice.kind, notice.key, about, other),
                receivers=tuple(notice.receivers),
                held_by=(notice.notice_id.removeprefix("silenced:") or "?") if held else None,
                under_tracking_id=other,
            )
        )
    rows.sort(key=lambda row: row.at)
    return tuple(rows)


# Azure's stage words as the board says them (render/labels.py says them so in messages).
_STAGE_SAID = {"InProgress": "In progress", "Complete": "Completed"}


def _told_text(kind: str, key: str, about: str = "", other_wave: str | None = None) -> str:
    if kind == "reminder":
        # "reminder:self_service-72h:<deadline>": which window, how long before it
        label = key.split(":", 2)[1] if key.count(":") >= 2 else ""
        which, _, offset = label.partition("-")
        window = {
            "self_service": "self-service window closes",
            "scheduled": "Azure's window opens",
        }.get(which)
        return f"reminder: {window} in {offset}" if window and offset else "reminder"
    if kind == "started" and about:
        # What its message said: "Maintenance completed: sql-01" or "… started: …".
        status, _, source = about.partition(", ")
        what = "maintenance completed" if status == "Completed" else "maintenance started"
        if source:
            what += " (started from a message)" if status == "Completed" else " (from a message)"
        return what
    if kind == "announced" and about:
        # Which notice: "Azure's notice (Rescheduled, recovered by the catch-up)", so that a
        # wave's Planned and Rescheduled notices are two rows that read as two.
        stage, recovered, _ = about.partition(", recovered")
        which = _STAGE_SAID.get(stage, stage) + (", recovered by the catch-up" if recovered else "")
        if other_wave:
            # A notice of the wave before Azure re-issued it: findable in the portal by that id.
            which += f", under tracking id {other_wave}"
        return f"{TOLD_TEXT['announced']} ({which})"
    if kind == "completed" and key.startswith("closed:"):
        kind = "completed_stage"
    return TOLD_TEXT.get(kind, kind.replace("_", " "))


def next_quiet_hour(vm: BoardVm, now: datetime) -> datetime | None:
    """The VM's quietest hour (Log Analytics: the lowest-load hour of a week) next from
    ``now``: the hint's own start, or that hour a week (or weeks) later when it is past."""
    if vm.quietest_hour is None:
        return None
    moment = parse_utc(vm.quietest_hour.start)
    if moment < now:
        moment += WEEK * -(-(now - moment) // WEEK)
    return moment


def list_waves(
    records: Iterable[MaintenanceRecord], ownership: Ownership, now: datetime
) -> list[WaveSummary]:
    """Every wave forewarn holds records of: the ones with open VMs first, newest first."""
    by_wave: dict[str, list[MaintenanceRecord]] = {}
    for record in records:
        by_wave.setdefault((record.tracking_id or NO_TRACKING_ID).lower(), []).append(record)
    summaries = []
    for grouped in by_wave.values():
        rows = [_row(record, ownership, now, None, ()) for record in grouped]
        deadlines = [vm.deadline for vm in rows if vm.deadline is not None]
        summaries.append(
            WaveSummary(
                tracking_id=grouped[0].tracking_id or NO_TRACKING_ID,
                vms=len(rows),
                open=sum(vm.is_open for vm in rows),
                claimed=sum(bool(vm.owners) for vm in rows if vm.is_open),
                next_deadline=min(deadlines) if deadlines else None,
                updated_at=max(record.updated_at for record in grouped),
            )
        )
    summaries.sort(key=lambda wave: wave.updated_at, reverse=True)
    summaries.sort(key=lambda wave: wave.open == 0)
    return summaries


def _iso(moment: datetime | None) -> str | None:
    return format_utc(moment) if moment is not None else None


def _window(window: TimeWindow) -> dict[str, str | None]:
    return {"start": window.start, "end": window.end}
