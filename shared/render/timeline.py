"""The board's timeline, drawn on the server as SVG: no script, nothing fetched.

One row per VM of the board, in the board's order: its name, then two lanes, the
self-service window (blue) above Azure's scheduled window (orange); the plan step's start as
a diamond and the quietest hour as a circle on the self-service lane; one vertical line for
now across every row. Days are ticked along the top in the zone the page shows. A closed VM
(done, deleted) is drawn pale. At most ``MAX_ROWS`` VMs are drawn (the board's first: open,
nearest deadline first); the page's table lists them all.

The geometry (``layout``) is apart from the drawing (``svg``) so that tests can check where
each bar lands for known windows. Coordinates are in the SVG's own units; the image scales to
the width it is given (``viewBox``), so the same drawing serves a phone and a desktop.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from shared.models import TimeWindow
from shared.render.text import ReaderClock, clip
from shared.wave.board import Board, BoardVm, next_quiet_hour

WIDTH = 560
LEFT, RIGHT = 8, 8  # margins
TOP = 34  # room for the day ticks
ROW = 60  # per VM: its name, then the two lanes
LANE = 12
NAME_SIZE = 18
NAME_CHARS = 36  # what fits beside the state at NAME_SIZE in WIDTH; the table has the rest
TICK_SIZE = 14
MAX_TICKS = 6
# Rows drawn: a wave of thousands would make an image metres tall; the board's order puts the
# open VMs with the nearest deadlines first, and the table below lists every VM.
MAX_ROWS = 60
TICK_DAYS = (1, 2, 7, 14, 28, 56, 91, 182, 364)
COLOURS = {"self_service": "#2563eb", "scheduled": "#d97706", "now": "#dc2626"}

BarKind = Literal["self_service", "scheduled"]
MarkKind = Literal["step", "quietest"]


@dataclass(frozen=True)
class Scale:
    """Moments to x: ``start`` at ``left``, ``end`` at ``right``."""

    start: datetime
    end: datetime
    left: float = LEFT
    right: float = WIDTH - RIGHT

    def x(self, moment: datetime) -> float:
        span = (self.end - self.start).total_seconds()
        share = (moment - self.start).total_seconds() / span if span > 0 else 0.0
        return round(self.left + min(max(share, 0.0), 1.0) * (self.right - self.left), 2)


@dataclass(frozen=True)
class Bar:
    vm_id: str
    kind: BarKind
    x: float
    y: float
    width: float
    title: str
    pale: bool


@dataclass(frozen=True)
class Mark:
    vm_id: str
    kind: MarkKind
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    bars: tuple[Bar, ...]
    marks: tuple[Mark, ...]
    names: tuple[Label, ...]
    ticks: tuple[Label, ...]
    now_x: float
    now_title: str


def _moments(vm: BoardVm) -> list[datetime]:
    windows = (vm.self_service_window, vm.scheduled_window)
    return [m for w in windows for m in (w.start_dt, w.end_dt) if m is not None]


def span_of(board: Board) -> tuple[datetime, datetime]:
    """From the first window's start (or now) to the last window's end (or now), with a
    little room at both ends so that a bar never touches the edge."""
    moments = [board.now, *(m for vm in board.vms for m in _moments(vm))]
    first, last = min(moments), max(moments)
    room = max((last - first) / 40, timedelta(hours=1))
    return first - room, last + room


def _quiet_moment(vm: BoardVm, now: datetime, scale: Scale) -> datetime | None:
    """The quietest hour's next time from now, when it falls within the timeline."""
    moment = next_quiet_hour(vm, now)
    return moment if moment is not None and moment <= scale.end else None


def drawn_vms(board: Board) -> tuple[BoardVm, ...]:
    """The VMs the timeline draws: the first ``MAX_ROWS`` in the board's order."""
    return board.vms[:MAX_ROWS]


def layout(board: Board, clock: ReaderClock) -> Layout:
    start, end = span_of(board)
    scale = Scale(start, end)
    bars: list[Bar] = []
    marks: list[Mark] = []
    names: list[Label] = []
    for index, vm in enumerate(drawn_vms(board)):
        top = TOP + index * ROW
        names.append(Label(LEFT, top + NAME_SIZE, f"{clip(vm.name, NAME_CHARS)} · {vm.state_text}"))
        lanes: tuple[tuple[BarKind, TimeWindow, str], ...] = (
            ("self_service", vm.self_service_window, "self-service"),
            ("scheduled", vm.scheduled_window, "Azure"),
        )
        for lane, (kind, window, what) in enumerate(lanes):
            if window.start_dt is None or window.end_dt is None:
                continue
            left, right = scale.x(window.start_dt), scale.x(window.end_dt)
            y = top + NAME_SIZE + 8 + lane * (LANE + 4)
            title = f"{vm.name}: {what} {clock.window(window)}"
            bars.append(Bar(vm.vm_id, kind, left, y, max(right - left, 1.0), title, not vm.is_open))
        lane_middle = top + NAME_SIZE + 8 + LANE / 2
        if vm.step is not None:
            step = vm.step
            title = f"{vm.name}: plan step {step.order} of {step.of} from {clock.local(step.start)}"
            marks.append(Mark(vm.vm_id, "step", scale.x(step.start), lane_middle, title))
        quiet = _quiet_moment(vm, board.now, scale)
        if quiet is not None:
            title = f"{vm.name}: quietest hour {clock.local(quiet)} (weekly)"
            marks.append(Mark(vm.vm_id, "quietest", scale.x(quiet), lane_middle, title))
    height = TOP + max(len(drawn_vms(board)), 1) * ROW
    return Layout(
        WIDTH,
        height,
        tuple(bars),
        tuple(marks),
        tuple(names),
        ticks(scale, clock),
        scale.x(board.now),
        f"now: {clock.local(board.now)}",
    )


def ticks(scale: Scale, clock: ReaderClock) -> tuple[Label, ...]:
    """Local midnights, every so many days that at most ``MAX_TICKS`` fit."""
    days = (scale.end - scale.start).total_seconds() / 86400
    every = next((d for d in TICK_DAYS if days / d <= MAX_TICKS), TICK_DAYS[-1])
    local = scale.start.astimezone(clock.zone)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    found: list[Label] = []
    while day <= scale.end and len(found) <= MAX_TICKS:
        # Aware arithmetic on a ZoneInfo time is wall-clock: each tick stays local midnight
        # across a change of summer time, and x() compares the moments in UTC.
        found.append(Label(scale.x(day), TICK_SIZE + 2, f"{day.day} {day:%b}"))
        day += timedelta(days=every)
    return tuple(found)


# --------------------------------------------------------------------------------------
# Drawing


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def svg(board: Board, clock: ReaderClock) -> str:
    """The timeline as an inline ``<svg>`` element (escaped; no script, no links)."""
    found = layout(board, clock)
    parts = [
        f'<svg class="timeline" viewBox="0 0 {found.width} {found.height}" role="img" '
        f'aria-labelledby="timeline-title" xmlns="http://www.w3.org/2000/svg" '
        f'font-family="system-ui,sans-serif">',
        f'<title id="timeline-title">Timeline of wave {_e(board.tracking_id)}: self-service '
        "and scheduled windows per VM, plan steps, quietest hours and now</title>",
    ]
    for tick in found.ticks:
        parts.append(
            f'<line x1="{tick.x}" y1="{TOP - 8}" x2="{tick.x}" y2="{found.height}" '
            'stroke="#e5e7eb" stroke-width="1"/>'
            f'<text x="{tick.x}" y="{tick.y}" font-size="{TICK_SIZE}" fill="#6b7280" '
            f'text-anchor="middle">{_e(tick.text)}</text>'
        )
    for name in found.names:
        parts.append(
            f'<text x="{name.x}" y="{name.y}" font-size="{NAME_SIZE}" fill="#111827">'
            f"{_e(name.text)}</text>"
        )
    for bar in found.bars:
        opacity = ' fill-opacity="0.35"' if bar.pale else ""
        parts.append(
            f'<rect class="bar {bar.kind}" x="{bar.x}" y="{bar.y}" width="{round(bar.width, 2)}" '
            f'height="{LANE}" rx="3" fill="{COLOURS[bar.kind]}"{opacity}>'
            f"<title>{_e(bar.title)}</title></rect>"
        )
    for mark in found.marks:
        if mark.kind == "step":
            r = LANE / 2 + 5  # larger than the quietest circle: both show when they meet
            points = (
                f"{mark.x},{mark.y - r} {mark.x + r},{mark.y} {mark.x},{mark.y + r} "
                f"{mark.x - r},{mark.y}"
            )
            shape = f'<polygon class="mark step" points="{points}" fill="#111827" '
        else:
            shape = (
                f'<circle class="mark quietest" cx="{mark.x}" cy="{mark.y}" r="{LANE / 2 + 1}" '
                'fill="#ffffff" stroke="#059669" stroke-width="3" '
            )
        parts.append(f"{shape}><title>{_e(mark.title)}</title>{_close(mark.kind)}")
    parts.append(
        f'<line class="now" x1="{found.now_x}" y1="{TOP - 8}" x2="{found.now_x}" '
        f'y2="{found.height}" stroke="{COLOURS["now"]}" stroke-width="2">'
        f"<title>{_e(found.now_title)}</title></line>"
    )
    parts.append("</svg>")
    return "".join(parts)


def _close(kind: MarkKind) -> str:
    return "</polygon>" if kind == "step" else "</circle>"
