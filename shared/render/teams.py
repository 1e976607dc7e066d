"""Teams: an Adaptive Card in the message envelope that a Workflows webhook accepts.

Teams rejects posts above ~28 KB (one library saw 413 from ~21 KB), so the card is built to a
20 KB budget: VM containers are added while they fit, then the rest by name, then "and N more".
Should the card still be over budget (hostile text in every field), its biggest parts after the
heading are dropped one by one: at most as many steps as the card has parts.
TextBlock and Fact values render a Markdown subset (bold, italic, lists, links); untrusted text
has its Markdown punctuation backslash-escaped so an alert cannot add links or formatting, and
``<``/``>`` are escaped too (no ``<at>`` mention tags).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.models import EnrichedEvent, Receiver, RenderedMessage, VirtualMachine
from shared.render.facts import ADVICE_SHORT, MessageFacts, VmFacts, build_facts
from shared.render.plan import plan_lines
from shared.render.text import advice_summary, clip, names_within, plural


@dataclass(frozen=True)
class TeamsLimits:
    max_bytes: int = 28 * 1024  # Teams' limit for a webhook / Workflows post
    budget_bytes: int = 20_000  # what we use (413s were seen from ~21 KB)
    card_version: str = "1.4"  # 1.4 renders on every Teams client incl. mobile
    plan_chars: int = 6000


LIMITS = TeamsLimits()
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"

# With [ and ] escaped no link can form, so parentheses stay as they are.
_MARKDOWN = re.compile(r"([\\*_\[\]<>])")
_LIST_START = re.compile(r"^(\s*)([-+#]|\d+\.)(\s)", re.MULTILINE)


def escape(text: str) -> str:
    """Untrusted text as literal text in an Adaptive Card TextBlock or Fact."""
    escaped = _MARKDOWN.sub(r"\\\1", text)
    return _LIST_START.sub(
        lambda found: f"{found.group(1)}\\{found.group(2)}{found.group(3)}", escaped
    )


def _text(text: str, **style: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _facts(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "FactSet",
        "facts": [{"title": title, "value": value} for title, value in pairs],
    }


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _vm_container(vm: VmFacts) -> dict[str, Any]:
    pairs = [("Where", escape(f"{vm.resource_group} · {vm.location} · {vm.placement}"))]
    if vm.planned:
        pairs += [("Self-service", escape(vm.self_service)), ("Scheduled", escape(vm.scheduled))]
    pairs.append(("Allowed now", escape(vm.allowed_text)))
    advice = vm.advice_label + (": " + " ".join(vm.reasons) if vm.reasons else "")
    pairs.append(("Advice", escape(advice)))
    if vm.last_result:
        pairs.append(("Last attempt", escape(vm.last_result)))
    items: list[dict[str, Any]] = [_text(f"**{escape(vm.name)}**"), _facts(pairs)]
    if vm.show_command:
        items.append(_text(escape(vm.az_command), fontType="Monospace", size="Small"))
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def _head(facts: MessageFacts) -> list[dict[str, Any]]:
    body = [
        _text(escape(facts.headline), size="Large", weight="Bolder", style="heading"),
        _text(escape(facts.what)),
    ]
    pairs = []
    if facts.title:
        pairs.append(("Notice", escape(facts.title)))
    if facts.impact:
        pairs.append(("Event window", escape(facts.impact)))
    if facts.vms:
        pairs.append(
            ("Allowed now", f"{facts.allowed_now_count} of {plural(len(facts.vms), 'VM')}")
        )
        pairs.append(("Advice", escape(advice_summary(facts.advice_counts, ADVICE_SHORT))))
    pairs.append(("Times", escape(f"{facts.zone}, UTC in brackets")))
    body.append(_facts(pairs))
    if facts.summary and facts.summary != "<MESSAGE>":
        body.append(_text(escape(clip(facts.summary, 1200)), isSubtle=True))
    return body


def _tail(facts: MessageFacts) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = []
    if facts.plan:
        lines = [
            f"**Plan** (one update domain at a time, {facts.plan_gap_minutes} min apart)",
            *plan_lines(facts, escape, "Step {}:"),
            "Start a step with: forewarn start-maintenance VM\\_ID…",
        ]
        text = clip("\n\n".join(lines), LIMITS.plan_chars)
        body.append({"type": "Container", "separator": True, "items": [_text(text)]})
    for note in facts.notes[:5]:
        body.append(_text("Note: " + escape(note), isSubtle=True, size="Small"))
    body.append(_text(escape(f"forewarn · event {facts.event_id}"), isSubtle=True, size="Small"))
    return body


def _envelope(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def _within_budget(card: dict[str, Any], body: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``body``, less its biggest parts after the heading while the card is over budget."""
    body = list(body)
    while len(body) > 1 and _size(_envelope({**card, "body": body})) > LIMITS.budget_bytes:
        biggest = max(range(1, len(body)), key=lambda index: _size(body[index]))
        del body[biggest]
    return body


def render(
    enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
) -> RenderedMessage:
    facts = build_facts(enriched, receiver, vms, now)
    head, tail = _head(facts), _tail(facts)
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": LIMITS.card_version,
        "msteams": {"width": "Full"},
        "body": [],
    }
    if facts.portal_link:
        card["actions"] = [
            {"type": "Action.OpenUrl", "title": "Open in Azure portal", "url": facts.portal_link}
        ]
    room = LIMITS.budget_bytes - _size(_envelope({**card, "body": head + tail})) - 400
    middle: list[dict[str, Any]] = []
    shown = 0
    for vm in facts.vms:
        container = _vm_container(vm)
        cost = _size(container) + 1
        if cost > room:
            break
        middle.append(container)
        room -= cost
        shown += 1
    rest = [escape(vm.name) for vm in facts.vms[shown:]]
    if rest:
        names, more = names_within(rest, max(0, room - 120))
        text = "**Also affected:** " + (names or "") + (f" and {more} more" if more else "") + "."
        middle.append({"type": "Container", "separator": True, "items": [_text(text)]})
    card["body"] = _within_budget(card, head + middle + tail)
    payload = _envelope(card)
    return RenderedMessage(
        channel="teams",
        subject=facts.headline,
        text=facts.headline,
        payload=payload,
        meta={"bytes": _size(payload), "vms": len(facts.vms), "vms_detailed": shown},
    )
