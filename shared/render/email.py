"""Email: a subject with the key fact first, a text part and an HTML part (Jinja2, autoescaped).

The subject is one line of at most 78 characters with CR/LF and controls removed; encoding it
(RFC 2047) and refusing header injection again is the job of whoever builds the MIME message.
The HTML stays under ~100 KB (Gmail clips larger messages): the first VMs in full, then the
rest by name, then "and N more".
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from shared.models import EnrichedEvent, Receiver, RenderedMessage, VirtualMachine
from shared.render.facts import ADVICE_SHORT, GUIDANCE_URL, MessageFacts, build_facts
from shared.render.text import advice_summary, clean, clip, names_within

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


def subject_line(facts: MessageFacts) -> str:
    prefix = "[TEST] " if facts.is_test else ""
    return clip(clean(prefix + facts.headline), LIMITS.subject_chars)


def _wrap(text: str, indent: str = "") -> str:
    return textwrap.fill(
        text,
        width=LIMITS.line_chars,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )


def _render_parts(facts: MessageFacts, detailed_count: int) -> tuple[str, str]:
    detailed = facts.vms[:detailed_count]
    rest, more = names_within([vm.name for vm in facts.vms[detailed_count:]], LIMITS.names_chars)
    plan_lines = []
    for step in facts.plan:
        domain = f"UD {step.update_domain}" if step.update_domain is not None else "no UD"
        names, left = names_within(step.vm_names, 600)
        tail = f" and {left} more" if left else ""
        plan_lines.append(_wrap(f"{step.order}. {step.start}, {domain}: {names}{tail}", ""))
    context: dict[str, Any] = {
        "plan_lines": plan_lines,
        "f": facts,
        "detailed": detailed,
        "rest_names": rest,
        "rest_more": more,
        "advice": advice_summary(facts.advice_counts, ADVICE_SHORT),
        "summary": facts.summary if facts.summary != "<MESSAGE>" else "",
        "guidance": GUIDANCE_URL,
        "wrap": _wrap,
    }
    environment = _environment()
    html = environment.get_template("email.html.j2").render(context)
    text = environment.get_template("email.txt.j2").render(context)
    return re.sub(r"\n{3,}", "\n\n", text), html


def render(
    enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
) -> RenderedMessage:
    facts = build_facts(enriched, receiver, vms, now)
    detailed = min(len(facts.vms), LIMITS.detailed_vms)
    text, html = _render_parts(facts, detailed)
    while detailed and (
        len(html.encode("utf-8")) > LIMITS.html_budget_bytes
        or len(text.encode("utf-8")) > LIMITS.text_budget_bytes
    ):
        detailed //= 2
        text, html = _render_parts(facts, detailed)
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
    )
