"""SMS: the one fact that matters and a link, in GSM-7, in one segment when it can be.

One character outside GSM-7 switches a whole SMS to UCS-2 (70 characters a segment instead of
160), so text is first mapped to GSM-7: typographic quotes, dashes and ellipses to ASCII,
accented letters to their base letter, emoji dropped, anything else to ``?``. Then the most
detailed wording that fits one segment is chosen; two segments are the most ever sent.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from shared.models import EnrichedEvent, Receiver, RenderedMessage, VirtualMachine
from shared.render.facts import MessageFacts, build_facts
from shared.render.text import clip, names_within


@dataclass(frozen=True)
class SmsLimits:
    gsm7_single: int = 160
    gsm7_part: int = 153  # per segment once concatenated (6-byte UDH)
    ucs2_single: int = 70
    ucs2_part: int = 67
    max_segments: int = 2
    target_segments: int = 1


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


def _allowed_part(facts: MessageFacts) -> str:
    open_now = [vm for vm in facts.vms if vm.allowed_now]
    if not open_now:
        return ""
    ends = [vm.vm.maintenance.self_service_window.end_dt for vm in open_now if vm.vm.maintenance]
    known = [end for end in ends if end is not None]
    until = f" until {facts.clock.local(min(known))}" if known else ""
    return f"Self-service open on {len(open_now)}{until}."


def _candidates(facts: MessageFacts) -> list[str]:
    link = facts.portal_link or f"Ref {clip(facts.event_id, 40)}"
    head = facts.headline
    starts = [vm.scheduled_start for vm in facts.vms if vm.scheduled_start is not None]
    utc = ""
    if starts and not facts.clock.is_utc:
        utc = f" ({facts.clock.utc_beside(min(starts))})"
    allowed = _allowed_part(facts)
    names, more = names_within([vm.name for vm in facts.vms], 48)
    listed = f"VMs: {names}" + (f" +{more}" if more else "") + "." if names else ""
    prefix = "TEST " if facts.is_test else ""
    options = [
        [f"{prefix}{head}{utc}.", allowed, listed, link],
        [f"{prefix}{head}{utc}.", allowed, link],
        [f"{prefix}{head}{utc}.", link],
        [f"{prefix}{head}.", link],
    ]
    return [to_gsm7(" ".join(part for part in option if part)) for option in options]


def _fit(candidates: list[str], link: str) -> str:
    for segments in (LIMITS.target_segments, LIMITS.max_segments):
        for text in candidates:
            if count_segments(text).segments <= segments:
                return text
    # Even the shortest wording is too long (a very long link or name): cut words, keep the link.
    room = LIMITS.gsm7_part * LIMITS.max_segments - len(link) - 1
    words = (
        candidates[-1][: -len(link)].strip() if candidates[-1].endswith(link) else candidates[-1]
    )
    text = clip(words, room, "...") + " " + link
    while count_segments(text).segments > LIMITS.max_segments:
        room -= 5
        text = clip(words, room, "...") + " " + link
    return text


def render(
    enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
) -> RenderedMessage:
    facts = build_facts(enriched, receiver, vms, now)
    link = to_gsm7(facts.portal_link or f"Ref {clip(facts.event_id, 40)}")
    text = _fit(_candidates(facts), link)
    count = count_segments(text)
    return RenderedMessage(
        channel="sms",
        subject="",
        text=text,
        meta={"encoding": count.encoding, "segments": count.segments, "units": count.units},
    )
