"""Slack: a Block Kit message with a plain ``text`` fallback, within Slack's limits.

Untrusted text is escaped for mrkdwn (``&``, ``<``, ``>``, the only escapes Slack has), so
``<!channel>`` or ``<http://evil|click>`` from an alert cannot become a mention or a spoofed
link; the words ``@here``, ``@channel`` and ``@everyone`` get a full-width at sign. Formatting
markers in untrusted text are shown as look-alikes that Slack does not parse: ``*`` as ``∗``,
``~`` as ``∼``, a backtick as ``ˋ``, and ``_`` as ``ˍ`` where it touches a word boundary
(underscores inside a word cannot format, and names such as ``MC_rg_aks`` stay copyable); see
docs/decisions.md. Every mrkdwn object is ``verbatim`` so that Slack does not linkify names.
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
class SlackLimits:
    max_blocks: int = 50  # Slack's limit per message
    block_budget: int = 40  # what we use, leaving room
    section_chars: int = 3000  # a section's text must be < 3001 characters
    section_budget: int = 2800
    header_chars: int = 150  # header block, plain_text
    total_budget: int = 11_000  # Slack rejects ~13.2k of block text (msg_blocks_too_long)
    fallback_chars: int = 3000  # the `text` fallback (Slack truncates at 40k; stay small)
    button_text_chars: int = 75
    button_url_chars: int = 3000
    summary_chars: int = 1500  # the notice's own text
    notes_chars: int = 1500
    footer_chars: int = 300


LIMITS = SlackLimits()

_MENTION = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)
_LOOKALIKES = str.maketrans({"*": "∗", "~": "∼", "`": "ˋ"})
# An underscore not between two letters or digits: only those can open or close italics.
_LOOSE_UNDERSCORE = re.compile(r"(?<![^\W_])_|_(?![^\W_])")


def _escape_entities(text: str) -> str:
    """No entities, links or mentions: what any Slack text, code spans included, needs."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MENTION.sub(lambda found: "＠" + found.group(1), escaped)


def escape(text: str) -> str:
    """Text shown literally in Slack mrkdwn (and plain_text): no entities, links, mentions or
    formatting."""
    return _LOOSE_UNDERSCORE.sub("ˍ", _escape_entities(text).translate(_LOOKALIKES))


def _code(text: str) -> str:
    # Nothing formats inside a code span, so the command stays exact; a backtick would end it.
    return "`" + _escape_entities(text.replace("`", "'")) + "`"


def _section(text: str, limit: int = LIMITS.section_budget) -> dict[str, Any]:
    return {
        "type": "section",
        "text": {"type": "mrkdwn", "text": clip(text, limit), "verbatim": True},
    }


def _context(text: str, limit: int = LIMITS.section_budget) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": clip(text, limit), "verbatim": True}],
    }


def _vm_text(vm: VmFacts) -> str:
    lines = [
        f"*{escape(vm.name)}* · {escape(vm.resource_group)} · {escape(vm.location)} · "
        f"{escape(vm.placement)}"
    ]
    if vm.planned:
        lines.append(f"Self-service: {escape(vm.self_service)}")
        lines.append(f"Scheduled (Azure): {escape(vm.scheduled)}")
    lines.append(f"Allowed now: {escape(vm.allowed_text)}")
    advice = f"Advice: *{escape(vm.advice_label)}*"
    if vm.reasons:
        advice += " — " + escape(" ".join(vm.reasons))
    lines.append(advice)
    if vm.last_result:
        lines.append(f"Last attempt: {escape(vm.last_result)}")
    if vm.show_command:
        lines.append(_code(vm.az_command))
    return "\n".join(lines)


def _summary_blocks(facts: MessageFacts) -> list[dict[str, Any]]:
    header = clip(escape(facts.headline), LIMITS.header_chars)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}},
    ]
    lines = [escape(facts.what)]
    if facts.title:
        lines.append(f"*Notice:* {escape(facts.title)}")
    if facts.impact:
        lines.append(f"*Event window:* {escape(facts.impact)}")
    if facts.vms:
        count = plural(len(facts.vms), "VM")
        lines.append(f"*Self-service allowed now:* {facts.allowed_now_count} of {count}")
        lines.append(f"*Advice:* {escape(advice_summary(facts.advice_counts, ADVICE_SHORT))}")
    lines.append(f"_Times in {escape(facts.zone)}, UTC in brackets._")
    blocks.append(_section("\n".join(lines)))
    if facts.summary and facts.summary != "<MESSAGE>":
        summary = escape(clip(facts.summary, LIMITS.summary_chars))
        blocks.append(_section(summary, LIMITS.summary_chars))
    return blocks


def _tail_blocks(facts: MessageFacts) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if facts.plan:
        lines = [
            f"*Plan* (one update domain at a time, {facts.plan_gap_minutes} min apart):",
            *plan_lines(facts, escape, "{}."),
            "Start a step with " + _code("forewarn start-maintenance VM_ID…"),
        ]
        blocks.append(_section(clip("\n".join(lines), LIMITS.section_budget)))
    if facts.notes:
        notes = "\n".join("Note: " + escape(note) for note in facts.notes[:5])
        blocks.append(_context(notes, LIMITS.notes_chars))
    if facts.portal_link and len(facts.portal_link) <= LIMITS.button_url_chars:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in Azure portal"},
                        "url": facts.portal_link,
                        "action_id": "open_portal",
                    }
                ],
            }
        )
    blocks.append(_context(f"forewarn · event {escape(facts.event_id)}", LIMITS.footer_chars))
    return blocks


def _text_size(blocks: list[dict[str, Any]]) -> int:
    total = 0
    for block in blocks:
        for key in ("text",):
            if key in block:
                total += len(block[key]["text"])
        for element in block.get("elements", []):
            total += len(element.get("text", "")) if isinstance(element.get("text"), str) else 0
    return total


def _vm_blocks(facts: MessageFacts, room_blocks: int, room_chars: int) -> list[dict[str, Any]]:
    """Pack VM entries into sections while they fit; list the rest by name, then 'and N more'."""
    blocks: list[dict[str, Any]] = []
    current: list[str] = []
    used = 0
    shown = 0
    for vm in facts.vms:
        entry = _vm_text(vm)
        pending = len("\n\n".join(current))
        if current and pending + 2 + len(entry) > LIMITS.section_budget:
            blocks.append(_section("\n\n".join(current)))
            used += pending
            current = []
        if (
            len(blocks) + 2 >= room_blocks
            or used + len("\n\n".join([*current, entry])) > room_chars - 600
        ):
            break
        current.append(entry)
        shown += 1
    if current:
        blocks.append(_section("\n\n".join(current)))
        used += len("\n\n".join(current))
    rest = [escape(vm.name) for vm in facts.vms[shown:]]
    if rest:
        names, more = names_within(
            rest, min(LIMITS.section_budget - 100, max(0, room_chars - used - 100))
        )
        text = f"*Also affected:* {names}" if names else "*Also affected:*"
        blocks.append(_section(text + (f" and {more} more" if more else "") + "."))
    return blocks


def render(
    enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
) -> RenderedMessage:
    facts = build_facts(enriched, receiver, vms, now)
    head, tail = _summary_blocks(facts), _tail_blocks(facts)
    fixed = _text_size(head) + _text_size(tail)
    middle = _vm_blocks(
        facts, LIMITS.block_budget - len(head) - len(tail) - 1, LIMITS.total_budget - fixed
    )
    blocks = [*head, {"type": "divider"}, *middle, *tail] if middle else [*head, *tail]
    fallback = [facts.headline, facts.what]
    if facts.vms:
        fallback.append(
            f"Self-service allowed now on {facts.allowed_now_count} of {len(facts.vms)}."
        )
    if facts.portal_link:
        fallback.append(facts.portal_link)
    text = clip(escape(" ".join(fallback)), LIMITS.fallback_chars)
    payload: dict[str, Any] = {"text": text, "blocks": blocks}
    return RenderedMessage(
        channel="slack",
        subject=facts.headline,
        text=text,
        payload=payload,
        meta={
            "blocks": len(blocks),
            "block_text_chars": _text_size(blocks),
            "bytes": len(json.dumps(payload, ensure_ascii=False).encode("utf-8")),
            "vms": len(facts.vms),
        },
    )
