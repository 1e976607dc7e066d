"""Email: a subject with the key fact first, a text part and an HTML part (Jinja2, autoescaped).

The body leads with what to do and by when, then the VMs grouped by action (one line each),
the plan with a pasteable command per step, and only then the details per VM; the notice's own
text comes last. The HTML is one fluid column (no fixed widths, long words broken) so that it
reads without horizontal scrolling on a 375 px phone.

The subject is one line of at most 78 characters with CR/LF and controls removed; encoding it
(RFC 2047) and refusing header injection again is the job of whoever builds the MIME message.
The HTML stays under ~100 KB (Gmail clips larger messages): the first VMs in full, then the
rest by name, then "and N more"; should even that be too big (hostile text), fewer names and
plan steps, in a fixed number of steps. Lines of the text part stay under RFC 5322's 998.

A maintenance message also carries its VMs' windows as calendar entries
(``RenderedMessage.calendar``, shared/render/calendar.py), which the sender attaches as a file.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from shared.models import EnrichedEvent, Receiver, RenderedMessage, VirtualMachine
from shared.render.calendar import build_calendar, calendar_note
from shared.render.facts import ADVICE_SHORT, GUIDANCE_URL, MessageFacts, build_facts
from shared.render.plan import COMMAND_VMS, START_NOW
from shared.render.text import advice_summary, clean, names_within

GROUP_COLOURS = {"start": "#107c10", "azure": "#374151", "avoid": "#c50f1f", "none": "#6b7280"}

if TYPE_CHECKING:
    from jinja2 import Environment


@dataclass(frozen=True)
class EmailLimits:
    subject_chars: int = 78  # RFC 5322 "SHOULD" line length; mobile clients cut earlier
    html_budget_bytes: int = 100_000  # Gmail clips messages above 102 KB
    text_budget_bytes: int = 100_000
    detailed_vms: int = 50  # VMs shown in full; the rest by name
    names_chars: int = 12_000
    line_chars: int = 78
    max_line_chars: int = 998  # RFC 5322 "MUST"


LIMITS = EmailLimits()


@cache
def _environment() -> Environment:
    # Imported on first use (~140 ms): a cold start of any function pays for module imports.
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("shared.render", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )


def prepare() -> None:
    """Compile the templates now (shared/warmup.py), as the first render would."""
    environment = _environment()
    for name in ("email.html.j2", "email.txt.j2"):
        environment.get_template(name)


def subject_line(facts: MessageFacts) -> str:
    # The headline starts "[TEST] " for a test notice (facts adds it for every channel).
    return clean(facts.headline, LIMITS.subject_chars)


def _hard_wrap(text: str) -> str:
    """Break any line longer than RFC 5322 allows (a long summary line or name)."""
    limit = LIMITS.max_line_chars
    if all(len(line) <= limit for line in text.split("\n")):
        return text
    lines = []
    for line in text.split("\n"):
        lines += [line[start : start + limit] for start in range(0, len(line), limit)] or [""]
    return "\n".join(lines)


def _wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(
        text,
        width=LIMITS.line_chars,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


@dataclass(frozen=True)
class _Shape:
    """How much of a message to show: VMs in full, characters of names, plan steps."""

    detailed: int
    names_chars: int = LIMITS.names_chars
    plan_steps: int | None = None  # None: every step facts has
    group_lines: int = 50  # VMs listed by line in each action group; the rest counted


def _render_parts(facts: MessageFacts, shape: _Shape, calendar_note: str = "") -> tuple[str, str]:
    # Only a maintenance has details to give (windows, advice, commands) per VM.
    shown = facts.vms if facts.is_maintenance else []
    detailed = shown[: shape.detailed]
    rest, more = names_within([vm.name for vm in shown[shape.detailed :]], shape.names_chars)
    about, about_more = names_within([vm.name for vm in facts.vms], shape.names_chars)
    steps = facts.plan[: shape.plan_steps]
    plan_lines = []
    for step in steps:
        names, left = names_within(step.vm_names, 600)
        tail = f" and {left} more" if left else ""
        plan_lines.append(_wrap(f"{step.order}. {step.start}, {step.label}: {names}{tail}", ""))
        if len(step.vm_ids) <= COMMAND_VMS and step.command:
            plan_lines.append(f"   $ {step.command}")
            plan_lines.extend(f"   $ {line}" for line in step.az_commands)
        if step.start_url:
            plan_lines.append(f"   {START_NOW}: {step.start_url}")
    group_lines = {
        group.key: [vm.line for vm in group.vms[: shape.group_lines]] for group in facts.groups
    }
    group_more = {group.key: max(0, len(group.vms) - shape.group_lines) for group in facts.groups}
    context: dict[str, Any] = {
        "groups": facts.groups,
        "group_lines": group_lines,
        "group_more": group_more,
        "group_colours": GROUP_COLOURS,
        "about": about + (f" and {about_more} more" if about_more else ""),
        "plan_lines": plan_lines,
        "plan": steps,
        "plan_more": len(facts.plan) - len(steps) + facts.plan_steps_omitted,
        "f": facts,
        "detailed": detailed,
        "rest_names": rest,
        "rest_more": more,
        "advice": advice_summary(facts.advice_counts, ADVICE_SHORT),
        "summary": facts.summary if facts.summary != "<MESSAGE>" else "",
        "guidance": GUIDANCE_URL,
        "wrap": _wrap,
        "calendar_note": calendar_note,
    }
    environment = _environment()
    html = environment.get_template("email.html.j2").render(context)
    text = environment.get_template("email.txt.j2").render(context)
    return _hard_wrap(re.sub(r"\n{3,}", "\n\n", text)), html


def _fits(parts: tuple[str, str]) -> bool:
    text, html = parts
    return (
        len(html.encode("utf-8")) <= LIMITS.html_budget_bytes
        and len(text.encode("utf-8")) <= LIMITS.text_budget_bytes
    )


def _shapes(vm_count: int) -> list[_Shape]:
    """From the fullest message to the barest, each smaller than the one before (finite)."""
    shapes = []
    detailed = min(vm_count, LIMITS.detailed_vms)
    while detailed:
        shapes.append(_Shape(detailed))
        detailed //= 2
    return [*shapes, _Shape(0), _Shape(0, 2_000, 5, 10), _Shape(0, 0, 0, 0)]


def render(
    enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
) -> RenderedMessage:
    facts = build_facts(enriched, receiver, vms, now)
    calendar = build_calendar(facts, enriched, receiver)
    note = calendar_note(calendar) if calendar else ""
    for shape in _shapes(len(facts.vms)):
        text, html = _render_parts(facts, shape, note)
        if _fits((text, html)):
            break
    detailed = shape.detailed
    return RenderedMessage(
        channel="email",
        subject=subject_line(facts),
        text=text,
        html=html,
        meta={
            "html_bytes": len(html.encode("utf-8")),
            "text_bytes": len(text.encode("utf-8")),
            "vms": len(facts.vms),
            "vms_detailed": detailed,
        },
        calendar=calendar.to_json() if calendar else None,
    )
