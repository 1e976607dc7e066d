"""``forewarn wave show``: where a wave stands, VM by VM (shared/wave/board.py).

    forewarn wave show                      the waves forewarn follows, open ones first
    forewarn wave show TRACKING_ID          every VM of the wave: state, advice, deadline,
                                            windows, owner, snooze, plan step, who was told
                                            what when
    forewarn wave show ... --json           the same as JSON (times in UTC)
    forewarn wave show ... --timezone Europe/Berlin   times in that zone (default UTC)

Reads the maintenance records and the claims of ``AzureWebJobsStorage``; changes nothing. The
plan step is the plan as it would be made now (``FOREWARN_PLAN_LEAD_MINUTES`` applies). The
same board is a page at ``GET /api/waves/{tracking_id}``.

Exit 0 shown, 2 no such wave, bad input or storage unavailable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared import names
from shared.enrich.plan import PlanSettingError, PlanSettings
from shared.render.text import ReaderClock
from shared.start.audit import AuditTrail, board_rows
from shared.storage import StorageError, StorageServices
from shared.timeutil import InvalidTimestampError, parse_utc, utc_now
from shared.wave.board import (
    Board,
    BoardError,
    BoardVm,
    WaveSummary,
    build_board,
    list_waves,
    next_quiet_hour,
)
from shared.wave.claims import ClaimStore
from shared.wave.history import TableWaveHistory
from shared.wave.records import TableRecordStore


def register(subparsers: Any) -> None:
    wave = subparsers.add_parser(
        "wave",
        help="where a wave stands: every VM with its state, deadline, owner and what was said",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = wave.add_subparsers(dest="wave_command", metavar="ACTION")
    actions.required = True
    show = actions.add_parser(
        "show",
        help="the waves (no id) or one wave's VMs",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    show.add_argument("tracking_id", nargs="?", metavar="TRACKING_ID", help="e.g. BC_1-FXZ")
    show.add_argument("--json", action="store_true", help="JSON on stdout (times in UTC)")
    show.add_argument("--timezone", default="UTC", help="IANA zone for times (default UTC)")
    show.add_argument("--now", help="ISO 8601 (default: now)")
    show.set_defaults(handler=run_show)


class _InputError(ValueError):
    """An argument the board cannot be shown with."""


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise _InputError(f"not a time zone this machine knows: {name!r}") from None


def run_show(args: argparse.Namespace) -> int:
    try:
        now = parse_utc(args.now) if args.now else utc_now()
        clock = ReaderClock(_zone(args.timezone), "en", now)
        storage = StorageServices.from_settings(os.environ)
        records = list(TableRecordStore(storage.table(names.TABLE_MAINTENANCE_RECORDS)).all())
        # A VM a later wave started afresh: its record as this wave (or each wave) left it.
        history = TableWaveHistory(storage.table(names.TABLE_ENDED_RECORDS))
        records += history.of_wave(args.tracking_id) if args.tracking_id else list(history.all())
        ownership = ClaimStore(storage.table(names.TABLE_CLAIMS)).ownership()
        if args.tracking_id is None:
            waves = list_waves(records, ownership, now)
            if args.json:
                _dump([wave.to_json() for wave in waves])
            else:
                print_waves(waves, clock)
            return 0
        settings = PlanSettings.with_lead(os.environ.get(names.SETTING_PLAN_LEAD_MINUTES))
        # What people did from messages (Start now): the wave's actionaudit rows.
        audit = AuditTrail(storage.table(names.TABLE_ACTION_AUDIT))
        wave: str = next(
            (
                record.tracking_id
                for record in records
                if record.tracking_id
                and record.tracking_id.lower() == args.tracking_id.strip().lower()
            ),
            args.tracking_id.strip(),
        )
        board = build_board(
            args.tracking_id,
            records,
            ownership,
            now,
            plan_settings=settings,
            audit_rows=board_rows(audit.rows_of(wave)),
        )
    except (
        BoardError,
        InvalidTimestampError,
        PlanSettingError,
        StorageError,
        _InputError,
    ) as error:
        print(f"forewarn wave show: {error}", file=sys.stderr)
        return 2
    if args.json:
        _dump(board.to_json())
    else:
        print("\n".join(board_lines(board, clock)))
    return 0


def _dump(document: Any) -> None:
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


def print_waves(waves: list[WaveSummary], clock: ReaderClock) -> None:
    if not waves:
        print("No waves: forewarn holds no maintenance records")
        return
    for wave in waves:
        deadline = (
            f", next deadline {clock.local(wave.next_deadline)}" if wave.next_deadline else ""
        )
        print(
            f"{wave.tracking_id}  {wave.vms} VMs, {wave.open} open, {wave.claimed} claimed"
            f"{deadline} (updated {wave.updated_at})"
        )


def board_lines(board: Board, clock: ReaderClock) -> list[str]:
    """The board as text: a heading, then a block per VM."""
    lines = [
        f"Wave {board.tracking_id}: {len(board.vms)} VMs, {board.open_count} open, "
        f"{board.claimed_count} claimed (times in {clock.zone.key}; now {clock.local(board.now)})"
    ]
    for vm in board.vms:
        lines += ["", *vm_lines(vm, clock)]
    return lines


def vm_lines(vm: BoardVm, clock: ReaderClock) -> list[str]:
    head = [vm.state_text, vm.advice_text]
    if vm.deadline is not None:
        head.append(f"start by {clock.local(vm.deadline)}")
    if vm.owners:
        head.append(f"claimed by {vm.owner}")
    lines = [f"{vm.name} ({vm.resource_group})  " + " · ".join(head)]
    lines.append(f"  self-service  {clock.window(vm.self_service_window)}")
    lines.append(f"  Azure         {clock.window(vm.scheduled_window)}")
    for receiver, by in sorted(vm.owners.items()):
        lines.append(f"  owner         {by}" + (f" (reminders to {receiver})" if receiver else ""))
    if vm.snoozed_until is not None:
        lines.append(f"  snoozed until {clock.local(vm.snoozed_until)}")
    if vm.step is not None:
        quiet = " (quietest hour)" if vm.step.quietest else ""
        lines.append(
            f"  plan          step {vm.step.order} of {vm.step.of} from "
            f"{clock.local(vm.step.start)}{quiet}"
        )
    quiet_at = next_quiet_hour(vm, clock.now)
    if vm.quietest_hour is not None and quiet_at is not None:
        hint = vm.quietest_hour
        lines.append(
            f"  quietest hour {clock.local(quiet_at)} "
            f"({hint.load_percent:.0f}% {hint.metric}, weekly)"
        )
    for index, row in enumerate(vm.told):
        label = "  told          " if index == 0 else "                "
        who = f" → {', '.join(row.receivers)}" if row.receivers else ""
        held = f" (held back by silence {row.held_by})" if row.held_by else ""
        lines.append(f"{label}{clock.local(_at(row.at))}  {row.what}{who}{held}")
    for done in vm.audit:
        lines.append(
            f"  audit         {clock.local(_at(done.at))}  "
            f"{done.action} by {done.by}: {done.outcome}"
        )
    return lines


def _at(text: str) -> datetime:
    return parse_utc(text)
