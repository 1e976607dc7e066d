"""The board as an HTML page: the table of ``forewarn wave show`` and the SVG timeline.

No script and nothing fetched (the content security policy of shared/board.py allows inline
style only); every text is escaped. On a narrow screen each table row becomes a card of
"label: value" lines, so nothing scrolls sideways at 375 px; the timeline scales to the width.
Times are in the zone the page was asked for (``?tz=``), named at the top.
"""

from __future__ import annotations

import html
from datetime import datetime

from shared.render.text import ReaderClock
from shared.render.timeline import COLOURS, MAX_ROWS, svg
from shared.timeutil import parse_utc
from shared.wave.board import Board, BoardVm, ToldRow, next_quiet_hour

COLUMNS = (
    "VM",
    "State",
    "Advice",
    "Start by",
    "Self-service window",
    "Azure's window",
    "Owner",
    "Snoozed until",
    "Plan",
    "Told",
)

STYLE = (
    "body{font:16px/1.45 system-ui,sans-serif;margin:0 auto;max-width:80rem;padding:0 1rem;"
    "color:#111827}"
    "h1{font-size:1.4rem;margin:1rem 0 .25rem}p{margin:.25rem 0}"
    ".timeline{width:100%;height:auto;max-width:45rem;display:block;margin:1rem 0}"
    ".legend span{display:inline-block;margin-right:1rem}"
    ".key{display:inline-block;width:1.2rem;height:.7rem;border-radius:2px;margin-right:.3rem}"
    "table{border-collapse:collapse;width:100%;margin:1rem 0}"
    "th,td{text-align:left;vertical-align:top;padding:.4rem .5rem;border-bottom:1px solid #e5e7eb;"
    "overflow-wrap:break-word}"
    "th{font-size:.85rem;color:#374151}"
    "td ul{margin:0;padding-left:1rem}"
    ".closed{color:#6b7280}"
    ".claimed{font-weight:600}"
    # A phone: each row a card, each cell a line with its column's name before it.
    "@media (max-width:48rem){thead{display:none}table,tbody,tr,td{display:block;width:auto}"
    "tr{border:1px solid #e5e7eb;border-radius:.5rem;margin:0 0 .75rem;padding:.25rem .5rem}"
    "td{border:0;padding:.2rem 0}td::before{content:attr(data-label) ': ';font-weight:600;"
    "color:#374151}td:first-child::before{content:''}td:first-child{font-size:1.1rem}}"
)


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _moment(clock: ReaderClock, moment: datetime | None) -> str:
    return clock.local(moment) if moment is not None else "—"


def _told(row: ToldRow, clock: ReaderClock) -> str:
    who = f" → {', '.join(row.receivers)}" if row.receivers else ""
    held = f" (held back by silence {row.held_by})" if row.held_by else ""
    return f"<li>{_e(clock.local(parse_utc(row.at)))}: {_e(row.what + who + held)}</li>"


def _owner(vm: BoardVm) -> str:
    if not vm.owners:
        return "—"
    said = []
    for receiver, by in sorted(vm.owners.items()):
        where = f" (reminders to {receiver})" if receiver else ""
        said.append(f'<span class="claimed">claimed by {_e(by)}</span>{_e(where)}')
    return "<br>".join(said)


def _plan(vm: BoardVm, clock: ReaderClock) -> str:
    parts = []
    if vm.step is not None:
        quiet = " (quietest hour)" if vm.step.quietest else ""
        parts.append(
            f"step {vm.step.order} of {vm.step.of} from {clock.local(vm.step.start)}{quiet}"
        )
    quiet_at = next_quiet_hour(vm, clock.now)
    if quiet_at is not None:
        parts.append(f"quietest hour {clock.local(quiet_at)} (weekly)")
    return "<br>".join(_e(part) for part in parts) or "—"


def _row(vm: BoardVm, clock: ReaderClock) -> str:
    told = "".join(_told(row, clock) for row in vm.told)
    audit = "".join(
        f"<li>{_e(clock.local(parse_utc(done.at)))}: "
        f"{_e(f'{done.action} by {done.by}: {done.outcome}')}</li>"
        for done in vm.audit
    )
    cells = (
        f"<strong>{_e(vm.name)}</strong> ({_e(vm.resource_group)})",
        _e(vm.state_text),
        _e(vm.advice_text),
        _e(_moment(clock, vm.deadline)),
        _e(clock.window(vm.self_service_window)),
        _e(clock.window(vm.scheduled_window)),
        _owner(vm),
        _e(_moment(clock, vm.snoozed_until)),
        _plan(vm, clock),
        f"<ul>{told}{audit}</ul>" if told or audit else "—",
    )
    css = "" if vm.is_open else ' class="closed"'
    tds = "".join(
        f'<td data-label="{_e(label)}">{cell}</td>'
        for label, cell in zip(COLUMNS, cells, strict=True)
    )
    # A VM's name is unique only within its resource group: the id carries both.
    return f'<tr id="vm-{_e(vm.resource_group)}/{_e(vm.name)}"{css}>{tds}</tr>'


def board_html(board: Board, clock: ReaderClock) -> str:
    zone = clock.zone.key
    legend = (
        '<p class="legend">'
        f'<span><i class="key" style="background:{COLOURS["self_service"]}"></i>'
        "self-service window (start it yourself)</span>"
        f'<span><i class="key" style="background:{COLOURS["scheduled"]}"></i>'
        "Azure's scheduled window</span>"
        "<span>◆ plan step</span><span>○ quietest hour</span>"
        f'<span><i class="key" style="background:{COLOURS["now"]};width:.2rem"></i>now</span>'
        "</p>"
    )
    if len(board.vms) > MAX_ROWS:
        legend += (
            f"<p>The timeline shows the first {MAX_ROWS} of {len(board.vms)} VMs (open ones, "
            "nearest deadline first); the table lists every one.</p>"
        )
    head = "".join(f"<th>{_e(column)}</th>" for column in COLUMNS)
    rows = "".join(_row(vm, clock) for vm in board.vms)
    summary = (
        f"{len(board.vms)} VMs, {board.open_count} open, {board.claimed_count} of them claimed. "
        f"Times in {zone}; now {clock.local(board.now)}."
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>forewarn: wave {_e(board.tracking_id)}</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>Wave {_e(board.tracking_id)}</h1><p>{_e(summary)}</p>"
        f"{svg(board, clock)}{legend}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        "</body></html>"
    )
