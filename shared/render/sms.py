"""SMS: what to do and by when, how many VMs need a person, and a link, in GSM-7.

A maintenance that asks for a start says so first: "Start 1 VM yourself by <deadline> or Azure
reboots it from <time>. 3 more: Azure does them. <link>"; any other message is its headline and
the link. One segment when it fits, else two, with the lead sentence in full.

One character outside GSM-7 switches a whole SMS to UCS-2 (70 characters a segment instead of
160), so text is first mapped to GSM-7: typographic quotes, dashes and ellipses to ASCII,
accented letters to their base letter, emoji dropped, anything else to ``?``. Then the most
detailed wording that fits one segment is chosen; two segments are the most ever sent. When
not even the shortest wording fits (a hostile title or tracking id), it is cut to the septets
left, with a marker: fitting is a fixed number of steps for any input, never a search.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from shared.models import EnrichedEvent, Receiver, RenderedMessage, VirtualMachine
from shared.render.facts import MessageFacts, build_facts
from shared.render.text import clip, plural


@dataclass(frozen=True)
class SmsLimits:
    gsm7_single: int = 160
    gsm7_part: int = 153  # per segment once concatenated (6-byte UDH)
    ucs2_single: int = 70
    ucs2_part: int = 67
    max_segments: int = 2
    target_segments: int = 1
    link_chars: int = 100  # a longer portal link is replaced by the event reference

    @property
    def max_septets(self) -> int:
        return self.gsm7_part * self.max_segments


LIMITS = SmsLimits()

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€")  # each costs two septets (escape + character)

_REPLACEMENTS = {
    "‘": "'",
    "’": "'",
    "‚": "'",
    "‛": "'",
    "′": "'",
    "`": "'",
    "´": "'",
    "“": '"',
    "”": '"',
    "„": '"',
    "″": '"',
    "«": '"',
    "»": '"',
    "–": "-",
    "—": "-",
    "―": "-",
    "‐": "-",
    "‑": "-",
    "−": "-",
    "…": "...",
    "•": "*",
    "·": "-",
    "→": "->",
    "←": "<-",
    "×": "x",
    "⚠": "!",
    "\t": " ",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\u2007": " ",
}


def to_gsm7(text: str) -> str:
    """Text that encodes in GSM-7, so the message never falls back to UCS-2."""
    out: list[str] = []
    for char in text:
        if char in GSM7_BASIC or char in GSM7_EXTENSION:
            out.append(char)
        elif char in _REPLACEMENTS:
            out.append(_REPLACEMENTS[char])
        else:
            base = "".join(
                part for part in unicodedata.normalize("NFKD", char) if part in GSM7_BASIC
            )
            if base:
                out.append(base)
            elif unicodedata.category(char) in ("So", "Sk", "Cs", "Mn", "Me", "Cf"):
                continue  # emoji, modifiers, joiners: drop rather than show "?"
            else:
                out.append("?")
    return "".join(out)


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def count_segments(text: str) -> SegmentCount:
    if all(char in GSM7_BASIC or char in GSM7_EXTENSION for char in text):
        units = sum(2 if char in GSM7_EXTENSION else 1 for char in text)
        single, part, encoding = LIMITS.gsm7_single, LIMITS.gsm7_part, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, part, encoding = LIMITS.ucs2_single, LIMITS.ucs2_part, "UCS-2"
    segments = 1 if units <= single else math.ceil(units / part)
    return SegmentCount(encoding, units, max(1, segments))


def septets(text: str) -> int:
    """GSM-7 length of text already mapped by ``to_gsm7``."""
    return len(text) + sum(1 for char in text if char in GSM7_EXTENSION)


def clip_septets(text: str, room: int, marker: str = "...") -> str:
    """``text`` cut to at most ``room`` septets, the cut marked (one pass over the text)."""
    if septets(text) <= room:
        return text
    budget = room - len(marker)
    used = 0
    for index, char in enumerate(text):
        used += 2 if char in GSM7_EXTENSION else 1
        if used > budget:
            return text[:index].rstrip() + marker if budget > 0 else marker[: max(0, room)]
    return text  # not reached: the text was longer than room


def _reference(facts: MessageFacts) -> str:
    link = facts.portal_link
    if link and len(link) <= LIMITS.link_chars:
        return link
    return f"Ref {clip(facts.event_id, 40)}"


def _test(facts: MessageFacts) -> str:
    return "[TEST] " if facts.is_test else ""


# Up to this many VMs to start are named (an SMS about sql-01 must say sql-01), if they fit.
NAMED_VMS = 3


def _deadline_parts(facts: MessageFacts, named: bool) -> list[str]:
    """Who must act by when, and how many VMs Azure does alone: the words an SMS has room for.

    ``named``: the VMs to start by name (when few), else by count."""
    start = next((group.vms for group in facts.groups if group.key == "start"), [])
    if not start or facts.label.phase not in ("upcoming", "in_progress"):
        return []
    clock = facts.clock
    ends = [vm.self_service_end for vm in start if vm.self_service_end is not None]
    scheduled = [vm.scheduled_start for vm in start if vm.scheduled_start is not None]
    by = f" by {clock.local(min(ends))}" if ends else ""
    them = "it" if len(start) == 1 else "them"
    azure = f" or Azure reboots {them} from {clock.local(min(scheduled))}" if scheduled else ""
    stage = {"In progress": "In progress: ", "Rescheduled": "Rescheduled: "}.get(
        facts.label.stage, ""
    )
    if facts.notice == "maintenance.escalated":
        stage = "Escalated, nobody has it: "
    subject = plural(len(start), "VM")
    if named and len(start) <= NAMED_VMS:
        subject = ", ".join(vm.name for vm in start)
    parts = [f"{_test(facts)}{stage}Start {subject} yourself{by}{azure}."]
    others = sum(len(group.vms) for group in facts.groups if group.key in ("azure", "avoid"))
    if others:
        parts.append(f"{others} more: Azure does {'it' if others == 1 else 'them'}.")
    return parts


def _candidates(facts: MessageFacts) -> list[list[str]]:
    """Wordings in tiers: what to do by when (when there is something to do), then the
    headline; within a tier the most detailed first."""
    link = _reference(facts)
    head = facts.headline
    starts = [vm.scheduled_start for vm in facts.vms if vm.scheduled_start is not None]
    utc = ""
    if starts and facts.is_maintenance and not facts.clock.is_utc:
        utc = f" ({facts.clock.utc_beside(min(starts))})"
    named = _deadline_parts(facts, named=True)
    deadline = _deadline_parts(facts, named=False)
    lead = f"{_test(facts)}{facts.lead}" if facts.groups and facts.lead else ""
    tiers = [
        [[*named, link], [*named[:1], link], [*deadline, link], [*deadline[:1], link]]
        if deadline
        else [],
        [[lead, link]] if lead else [],
        [[f"{head}{utc}.", link], [f"{head}.", link]],
    ]
    recovered = RECOVERED_SMS if facts.recovered else ""
    # A message that counts "2 VMs" while silences held 3 more must say so, even in an SMS.
    held = f"{plural(facts.held_back, 'VM')} silenced." if facts.held_back else ""
    owned = _claimed(facts)
    return [
        [
            to_gsm7(
                " ".join(
                    part for part in [*option[:-1], owned, held, recovered, option[-1]] if part
                )
            )
            for option in tier
        ]
        for tier in tiers
        if tier
    ]


def _claimed(facts: MessageFacts) -> str:
    """Who has the claimed VMs (shared/wave/claims.py), in every wording: "web-1: claimed by
    Alice." for one, a count beyond that (an SMS has no room for a list)."""
    claimed = [vm for vm in facts.vms if vm.owner_note]
    if len(claimed) == 1:
        return f"{claimed[0].name}:{claimed[0].owner_note.removeprefix(' ·')}."
    return f"{plural(len(claimed), 'VM')} claimed." if claimed else ""


# The SMS form of facts.RECOVERED_LINE: it goes in every wording, never dropped to fit.
RECOVERED_SMS = "Webhook missed; found in Activity Log."


def _fit(tiers: list[list[str]], link: str) -> str:
    # The deadline is worth a second segment; the headline alone is the fallback.
    for candidates in tiers:
        for segments in (LIMITS.target_segments, LIMITS.max_segments):
            for text in candidates:
                if count_segments(text).segments <= segments:
                    return text
    candidates = [text for tier in tiers for text in tier]
    # Even the shortest wording is too long (a very long title or region): cut the words to
    # the septets the link leaves; a link longer than 2 segments was already replaced.
    shortest = candidates[-1]
    words = shortest[: -len(link)].rstrip() if shortest.endswith(link) else shortest
    room = LIMITS.max_septets - septets(link) - 1
    if room < 20:  # no room for words beside the link: the words matter more
        return clip_septets(words, LIMITS.max_septets)
    return clip_septets(words, room) + " " + link


def render(
    enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
) -> RenderedMessage:
    facts = build_facts(enriched, receiver, vms, now)
    link = to_gsm7(_reference(facts))
    text = _fit(_candidates(facts), link)
    count = count_segments(text)
    return RenderedMessage(
        channel="sms",
        subject="",
        text=text,
        # "vms": the VMs this message is about, as every channel's meta says (the route log
        # counts them; without it an SMS read as carrying none).
        meta={
            "encoding": count.encoding,
            "segments": count.segments,
            "units": count.units,
            "vms": len(vms),
        },
    )
