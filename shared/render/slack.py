"""Slack: a Block Kit message with a plain ``text`` fallback, within Slack's limits.

Untrusted text is escaped for mrkdwn (``&``, ``<``, ``>``, the only escapes Slack has), so
``<!channel>`` or ``<http://evil|click>`` from an alert cannot become a mention or a spoofed
link; the words ``@here``, ``@channel`` and ``@everyone`` get a full-width at sign. Formatting
markers in untrusted text are shown as look-alikes that Slack does not parse: ``*`` as ``∗``,
``~`` as ``∼``, a backtick as ``ˋ``, and ``_`` as ``ˍ`` where it touches a word boundary
(underscores inside a word cannot format, and names such as ``MC_rg_aks`` stay copyable); see
docs/decisions.md. Every mrkdwn object is ``verbatim`` so that Slack does not linkify names.

The message is short: the headline, what to do and by when, the VMs grouped by action (one line
each) and the portal button. Everything else (windows, reasons, commands, the plan, the notice's
own text) is a second message in ``payload["thread"]``, which the sender posts as a thread reply
(bot token) or right after the first (incoming webhook, which cannot thread). Block Kit has no
collapsed blocks, so a reply is how Slack keeps details one tap away.
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
from shared.wave.slack_buttons import ClaimableVm, StartableStep, claim_block, start_block


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
    group_lines: int = 8  # VMs listed by line per action group in the top message


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
        lines.append(f"Self-service window: {escape(vm.self_service)}")
        lines.append(f"Azure's scheduled window: {escape(vm.scheduled)}")
    lines.append(f"Self-service allowed now: {escape(vm.allowed_text)}")
    advice = f"Advice: *{escape(vm.advice_label)}*"
    if vm.reasons:
        advice += " — " + escape(" ".join(vm.reasons))
    lines.append(advice)
    if vm.last_result:
        lines.append(f"Last attempt: {escape(vm.last_result)}")
    if vm.show_command:
        lines.append("Start it (Azure CLI): " + _code(vm.az_command))
    return "\n".join(lines)


def _header(facts: MessageFacts) -> dict[str, Any]:
    header = clip(escape(facts.headline), LIMITS.header_chars)
    return {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": False}}


def _group_lines(facts: MessageFacts) -> list[str]:
    lines: list[str] = []
    for group in facts.groups:
        lines.append(f"*{escape(group.heading)}*")
        lines += ["• " + escape(vm.line) for vm in group.vms[: LIMITS.group_lines]]
        if len(group.vms) > LIMITS.group_lines:
            lines.append(f"• and {len(group.vms) - LIMITS.group_lines} more (see the reply)")
    return lines


def _top_blocks(facts: MessageFacts) -> list[dict[str, Any]]:
    """The message people see in the channel: what, what to do by when, which VMs."""
    lead = [f"*{escape(facts.lead)}*"]
    if facts.recovered:
        lead.append(escape(facts.recovered))
    about = [escape(facts.label.text)]
    if facts.title:
        about.append(escape(facts.title))
    if facts.tracking_id:
        about.append("Tracking ID " + _code(facts.tracking_id))
    lead.append(" · ".join(about))
    blocks: list[dict[str, Any]] = [_header(facts), _section("\n".join(lead))]
    if facts.groups:
        blocks.append(_section("\n".join(_group_lines(facts))))
    elif facts.vms:
        names, more = names_within([escape(vm.name) for vm in facts.vms], 1500)
        blocks.append(_section(f"*About:* {names}" + (f" and {more} more" if more else "")))
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
    footer = f"Details in the reply below · times in {escape(facts.zone)}"
    blocks.append(_context(f"{footer} · forewarn event {escape(facts.event_id)}"))
    return blocks


def _detail_head(facts: MessageFacts) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [_section(f"*Details:* {escape(facts.headline)}")]
    if facts.plan:
        lines = [
            f"*Plan:* {facts.plan_heading}; each command shows what it would start, add "
            "`--yes` to start it",
            *plan_lines(facts, escape, "{}.", _code),
        ]
        blocks.append(_section(clip("\n".join(lines), LIMITS.section_budget)))
    return blocks


def _detail_tail(facts: MessageFacts) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if facts.good_to_know:
        known = "\n".join("• " + escape(fact) for fact in facts.good_to_know)
        blocks.append(_section(f"*Good to know*\n{known}", LIMITS.notes_chars))
    if facts.is_maintenance and facts.vms:
        blocks.append(_context(f"Source of the advice: {facts.guidance_url}"))
    lines = [escape(facts.what)]
    if facts.title:
        lines.append(f"*Title:* {escape(facts.title)}")
    if facts.impact:
        lines.append(f"*Impact window (from the notice):* {escape(facts.impact)}")
    blocks.append(_section("\n".join(lines)))
    if facts.summary and facts.summary != "<MESSAGE>":
        summary = escape(clip(facts.summary, LIMITS.summary_chars))
        blocks.append(_section(summary, LIMITS.summary_chars))
    if facts.notes:
        notes = "\n".join("Note: " + escape(note) for note in facts.notes[:5])
        blocks.append(_context(notes, LIMITS.notes_chars))
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


def _vm_blocks(vms: list[VmFacts], room_blocks: int, room_chars: int) -> list[dict[str, Any]]:
    """Pack VM entries into sections while they fit; list the rest by name, then 'and N more'."""
    blocks: list[dict[str, Any]] = []
    current: list[str] = []
    used = 0
    shown = 0
    for vm in vms:
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
    rest = [escape(vm.name) for vm in vms[shown:]]
    if rest:
        names, more = names_within(
            rest, min(LIMITS.section_budget - 100, max(0, room_chars - used - 100))
        )
        text = f"*Also affected:* {names}" if names else "*Also affected:*"
        blocks.append(_section(text + (f" and {more} more" if more else "") + "."))
    return blocks


def _details(facts: MessageFacts) -> dict[str, Any]:
    """The thread reply: plan with commands, each VM in full, facts, the notice's text."""
    head, tail = _detail_head(facts), _detail_tail(facts)
    fixed = _text_size(head) + _text_size(tail)
    vms = facts.vms if facts.is_maintenance else []
    middle = _vm_blocks(
        vms, LIMITS.block_budget - len(head) - len(tail) - 1, LIMITS.total_budget - fixed
    )
    blocks = [*head, {"type": "divider"}, *middle, *tail] if middle else [*head, *tail]
    text = clip(escape(f"Details: {facts.headline}"), LIMITS.fallback_chars)
    return {"text": text, "blocks": blocks}


def _fallback(facts: MessageFacts) -> str:
    parts = [facts.headline, facts.lead]
    if facts.portal_link:
        parts.append(facts.portal_link)
    return clip(escape(" ".join(parts)), LIMITS.fallback_chars)


def interactive(receiver: Receiver) -> bool:
    """Whether the receiver posts with a bot token (its messages can be updated when a button is
    pressed); an incoming webhook, which the sender prefers when both are set, cannot."""
    options = receiver.options
    webhook = options.get("webhook_url") or options.get("webhook_url_setting")
    return bool(options.get("token") or options.get("token_setting")) and not webhook


def _buttons(facts: MessageFacts, receiver: Receiver) -> dict[str, Any] | None:
    """Claim and snooze buttons for the VMs that still face maintenance and have no owner."""
    if not facts.is_maintenance or not interactive(receiver):
        return None
    claimable = [
        ClaimableVm(vm.vm.id, vm.vm.name)
        for vm in facts.vms
        if vm.vm.maintenance is not None and not vm.vm.owners
    ]
    return claim_block(claimable, receiver.name, facts.tracking_id)


def _start_buttons(facts: MessageFacts, receiver: Receiver) -> dict[str, Any] | None:
    """A "Start step N now" button per plan step that carries a Start link (so Start from the
    message is on and its VMs are advised to start themselves)."""
    if not facts.is_maintenance or not interactive(receiver):
        return None
    steps = [
        StartableStep(f"step {step.order}", tuple(step.vm_ids))
        for step in facts.plan
        if step.start_url
    ]
    return start_block(steps, receiver.name, facts.tracking_id)


def render(
    enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
) -> RenderedMessage:
    facts = build_facts(enriched, receiver, vms, now)
    blocks = _top_blocks(facts)
    for buttons in (_buttons(facts, receiver), _start_buttons(facts, receiver)):
        if buttons is not None:
            blocks.insert(len(blocks) - 1, buttons)  # above the footer
    details = _details(facts)
    text = _fallback(facts)
    payload: dict[str, Any] = {"text": text, "blocks": blocks, "thread": [details]}
    return RenderedMessage(
        channel="slack",
        subject=facts.headline,
        text=text,
        payload=payload,
        meta={
            "blocks": len(blocks),
            "block_text_chars": _text_size(blocks),
            "thread_blocks": len(details["blocks"]),
            "thread_block_text_chars": _text_size(details["blocks"]),
            "bytes": len(json.dumps(payload, ensure_ascii=False).encode("utf-8")),
            "vms": len(facts.vms),
        },
    )
