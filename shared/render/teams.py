"""Teams: an Adaptive Card in the message envelope that a Workflows webhook accepts.

The card shows the headline, what to do and by when, and the VMs grouped by action (one line
each); the details (plan with commands, each VM's windows and reasons, the notice's own text)
are behind a "Details" button (``Action.ShowCard``), which every Teams client renders.

Teams rejects posts above ~28 KB (one library saw 413 from ~21 KB), so the card is built to a
20 KB budget: VM containers are added to the details while they fit, then the rest by name,
then "and N more". Should the card still be over budget (hostile text in every field), the
biggest parts of the details, then of the card after the heading, are dropped one by one: at
most as many steps as the card has parts.
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
from shared.render.facts import MessageFacts, build_facts
from shared.render.plan import plan_lines
from shared.render.text import clip, names_within
from shared.render.vm_facts import VmFacts


@dataclass(frozen=True)
class TeamsLimits:
    max_bytes: int = 28 * 1024  # Teams' limit for a webhook / Workflows post
    budget_bytes: int = 20_000  # what we use (413s were seen from ~21 KB)
    card_version: str = "1.4"  # 1.4 renders on every Teams client incl. mobile
    plan_chars: int = 6000
    group_lines: int = 8  # VMs listed by line per action group on the card's face


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
        pairs += [
            ("Self-service window", escape(vm.self_service)),
            ("Azure's scheduled window", escape(vm.scheduled)),
        ]
    pairs.append(("Self-service allowed now", escape(vm.allowed_text)))
    advice = vm.advice_label + (": " + " ".join(vm.reasons) if vm.reasons else "")
    pairs.append(("Advice", escape(advice)))
    if vm.last_result:
        pairs.append(("Last attempt", escape(vm.last_result)))
    items: list[dict[str, Any]] = [_text(f"**{escape(vm.name)}**"), _facts(pairs)]
    if vm.show_command:
        items.append(_text("Start it (Azure CLI):", size="Small", spacing="Small"))
        items.append(_text(escape(vm.az_command), fontType="Monospace", size="Small"))
    return {"type": "Container", "separator": True, "spacing": "Medium", "items": items}


def _face(facts: MessageFacts) -> list[dict[str, Any]]:
    """What the card shows before anyone taps: what, what to do by when, which VMs."""
    about = facts.label.text + (f" · Tracking ID {facts.tracking_id}" if facts.tracking_id else "")
    body = [
        _text(escape(facts.headline), size="Large", weight="Bolder", style="heading"),
        _text(escape(facts.lead), weight="Bolder"),
        *([_text(escape(facts.recovered), color="Warning")] if facts.recovered else []),
        _text(escape(about), isSubtle=True, size="Small", spacing="Small"),
    ]
    for group in facts.groups:
        body.append(_text(f"**{escape(group.heading)}**", spacing="Medium"))
        for vm in group.vms[: LIMITS.group_lines]:
            body.append(_text("• " + escape(vm.line), spacing="None"))
        if len(group.vms) > LIMITS.group_lines:
            more = len(group.vms) - LIMITS.group_lines
            body.append(_text(f"• and {more} more (see Details)", spacing="None"))
    if not facts.groups and facts.vms:
        names, more = names_within([escape(vm.name) for vm in facts.vms], 1500)
        body.append(_text(f"**About:** {names}" + (f" and {more} more" if more else "")))
    return body


def _plan(facts: MessageFacts) -> list[dict[str, Any]]:
    if not facts.plan:
        return []
    lines = [
        f"**Plan:** {facts.plan_heading}; each command shows what it would start, add --yes to "
        "start it",
        *plan_lines(facts, escape, "Step {}:", escape),
    ]
    text = clip("\n\n".join(lines), LIMITS.plan_chars)
    return [{"type": "Container", "separator": True, "items": [_text(text)]}]


def _details_tail(facts: MessageFacts) -> list[dict[str, Any]]:
    body: list[dict[str, Any]] = []
    if facts.good_to_know:
        known = "\n\n".join("• " + escape(fact) for fact in facts.good_to_know)
        body.append(_text(f"**Good to know**\n\n{known}", separator=True))
    if facts.is_maintenance and facts.vms:
        body.append(
            _text(f"Source of the advice: {facts.guidance_url}", isSubtle=True, size="Small")
        )
    pairs = []
    if facts.title:
        pairs.append(("Title", escape(facts.title)))
    if facts.impact:
        pairs.append(("Impact window (from the notice)", escape(facts.impact)))
    pairs.append(("Times", escape(f"{facts.zone}, UTC in brackets")))
    body += [_text(escape(facts.what), separator=True), _facts(pairs)]
    if facts.summary and facts.summary != "<MESSAGE>":
        body.append(_text(escape(clip(facts.summary, 1200)), isSubtle=True))
    for note in facts.notes[:5]:
        body.append(_text("Note: " + escape(note), isSubtle=True, size="Small"))
    body.append(_text(escape(f"forewarn · event {facts.event_id}"), isSubtle=True, size="Small"))
    return body


def _envelope(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def _trimmed(whole: dict[str, Any], body: list[dict[str, Any]], keep: int) -> list[dict[str, Any]]:
    """``body`` (a list inside ``whole``), less its biggest parts after the first ``keep``
    while ``whole`` is over budget."""
    while len(body) > keep and _size(_envelope(whole)) > LIMITS.budget_bytes:
        biggest = max(range(keep, len(body)), key=lambda index: _size(body[index]))
        del body[biggest]
    return body


def _details_card(facts: MessageFacts, room: int) -> tuple[dict[str, Any], int]:
    """The card behind "Details", filled with VM containers while ``room`` bytes last."""
    head, tail = _plan(facts), _details_tail(facts)
    room -= _size(head) + _size(tail) + 400
    middle: list[dict[str, Any]] = []
    shown = 0
    vms = facts.vms if facts.is_maintenance else []
    for vm in vms:
        container = _vm_container(vm)
        cost = _size(container) + 1
        if cost > room:
            break
        middle.append(container)
        room -= cost
        shown += 1
    rest = [escape(vm.name) for vm in vms[shown:]]
    if rest:
        names, more = names_within(rest, max(0, room - 120))
        text = "**Also affected:** " + (names or "") + (f" and {more} more" if more else "") + "."
        middle.append({"type": "Container", "separator": True, "items": [_text(text)]})
    card = {"type": "AdaptiveCard", "body": head + middle + tail}
    return card, shown


def render(
    enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
) -> RenderedMessage:
    facts = build_facts(enriched, receiver, vms, now)
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": LIMITS.card_version,
        "msteams": {"width": "Full"},
        "body": _face(facts),
    }
    actions: list[dict[str, Any]] = []
    if facts.portal_link:
        actions.append(
            {"type": "Action.OpenUrl", "title": "Open in Azure portal", "url": facts.portal_link}
        )
    details, shown = _details_card(facts, LIMITS.budget_bytes - _size(_envelope(card)) - 300)
    actions.append({"type": "Action.ShowCard", "title": "Details", "card": details})
    card["actions"] = actions
    # Over budget only with hostile text: the details give way first, then the card's face.
    details["body"] = _trimmed(card, details["body"], 0)
    card["body"] = _trimmed(card, card["body"], 1)
    payload = _envelope(card)
    return RenderedMessage(
        channel="teams",
        subject=facts.headline,
        text=facts.headline,
        payload=payload,
        meta={"bytes": _size(payload), "vms": len(facts.vms), "vms_detailed": shown},
    )
