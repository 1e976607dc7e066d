"""Time and text helpers every renderer shares.

Times are shown in the receiver's IANA zone with UTC beside them, and dates in the receiver's
language (month and weekday names; the rest of a message is English). Untrusted text (alert
titles, VM names, tags) goes through ``clean`` first, here and only here: control, invisible and
bidirectional formatting characters removed, so that no channel gets hidden line breaks,
reversed or invisible text; ``facts`` cleans every field before any renderer sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.models import Receiver, TimeWindow
from shared.timeutil import parse_utc

_MONTHS = {
    "en": "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
    "de": "Jan. Feb. März Apr. Mai Juni Juli Aug. Sep. Okt. Nov. Dez.",
    "fr": "janv. févr. mars avr. mai juin juil. août sept. oct. nov. déc.",
    "nl": "jan. feb. mrt. apr. mei jun. jul. aug. sep. okt. nov. dec.",
    "es": "ene. feb. mar. abr. may. jun. jul. ago. sept. oct. nov. dic.",
}
_WEEKDAYS = {
    "en": "Mon Tue Wed Thu Fri Sat Sun",
    "de": "Mo. Di. Mi. Do. Fr. Sa. So.",
    "fr": "lun. mar. mer. jeu. ven. sam. dim.",
    "nl": "ma di wo do vr za zo",
    "es": "lun. mar. mié. jue. vie. sáb. dom.",
}

# Characters that hide, reorder or fake text, stripped from every untrusted string:
# - C0/C1 controls (callers that keep tab and newline handle those first);
# - every format character (Unicode category Cf, listed as of Unicode 14, the tables of Python
#   3.11): soft hyphen, Arabic letter mark, Mongolian vowel separator, zero-width space/joiners,
#   word joiner, bidi marks, embeddings, overrides and isolates, BOM, interlinear annotation,
#   the whole tag block U+E0000-E007F (which can smuggle invisible ASCII);
# - Hangul fillers (letters by category, blank on screen, used to fake empty names);
# - Khmer inherent vowels and the combining grapheme joiner (default-ignorable, invisible);
# - lone surrogates (JSON can carry them; they cannot be encoded) and the noncharacters FFFE/F.
# tests/unit/test_render_text.py checks the list against the running Python's Cf table.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f"
    "\u0890-\u0891\u08e2\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ud800-\udfff\ufeff\uffa0\ufff9-\ufffb\ufffe\uffff"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3"
    "\U0001d173-\U0001d17a\U000e0000-\U000e007f]"
)
_SPACES = re.compile(r"\s+")
# Longest untrusted string worth cleaning: no field of a message shows more, and a bound here
# keeps every later step (regexes, wrapping, escaping) linear in a small number.
CLEAN_INPUT_CHARS = 20_000


def strip_invisible(text: str) -> str:
    """``text`` without the characters above (line breaks and tabs kept)."""
    return _INVISIBLE.sub("", text)


def clean(text: str | None, limit: int | None = None) -> str:
    """Untrusted text as one line: no controls, no invisible or bidi characters, whitespace
    collapsed; cut to ``limit`` characters with a marker when given."""
    if not text:
        return ""
    text = text[:CLEAN_INPUT_CHARS]
    if text.isascii() and text.isprintable():
        # The common case (names, regions): nothing to strip, only spaces to collapse.
        line = " ".join(text.split())
        return clip(line, limit) if limit is not None else line
    # Whitespace first (so NEL, VT or FF between two words stays a space), then the invisible.
    line = _SPACES.sub(" ", strip_invisible(_SPACES.sub(" ", text))).strip()
    return clip(line, limit) if limit is not None else line


def clean_block(text: str | None) -> str:
    """Untrusted text keeping its line breaks (at most one blank line in a row)."""
    if not text:
        return ""
    text = text[:CLEAN_INPUT_CHARS]
    lines = [clean(line) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    joined = "\n".join(lines).strip()
    return re.sub(r"\n{3,}", "\n\n", joined)


def clip(text: str, limit: int, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``limit`` characters, the cut marked with ``ellipsis``."""
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return text[: max(0, limit)]
    return text[: limit - len(ellipsis)].rstrip() + ellipsis


def plural(count: int, word: str, many: str | None = None) -> str:
    return f"{count} {word if count == 1 else (many or word + 's')}"


def zone_or_utc(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or UTC when this machine does not know it.

    A routing file's zones are checked when it is loaded; the fallback covers receivers built
    elsewhere and hosts whose tz database lacks a zone. Rendering and quiet hours both use it,
    so a message's times and its hold until morning agree on the zone.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _utc_day_time(moment: datetime) -> str:
    utc = moment.astimezone(UTC)
    return f"{utc.day} {_MONTHS['en'].split()[utc.month - 1]} {utc:%H:%M}"


@dataclass(frozen=True)
class ReaderClock:
    """How one receiver reads times: its zone, its language, and the moment of rendering."""

    zone: ZoneInfo
    language: str
    now: datetime

    @classmethod
    def for_receiver(cls, receiver: Receiver, now: datetime) -> ReaderClock:
        language = receiver.language if receiver.language in _MONTHS else "en"
        return cls(zone_or_utc(receiver.timezone), language, now.astimezone(UTC))

    @property
    def is_utc(self) -> bool:
        return self.zone.key in ("UTC", "Etc/UTC", "Etc/Zulu", "Zulu", "Universal")

    def _day(self, moment: datetime, with_year: bool) -> str:
        weekday = _WEEKDAYS[self.language].split()[moment.weekday()]
        month = _MONTHS[self.language].split()[moment.month - 1]
        year = f" {moment.year}" if with_year else ""
        return f"{weekday} {moment.day} {month}{year}"

    def _needs_year(self, moment: datetime) -> bool:
        return abs((moment - self.now).days) > 300

    def local(self, moment: datetime, *, zone_name: bool = True) -> str:
        """``Thu 1 Oct 17:05 PDT`` in the receiver's zone (year added when far from now)."""
        here = moment.astimezone(self.zone)
        text = f"{self._day(here, self._needs_year(here))} {here:%H:%M}"
        return f"{text} {here.tzname()}" if zone_name else text

    def utc_beside(self, moment: datetime) -> str:
        """``00:05 UTC``, with the UTC date when it differs from the local date."""
        utc = moment.astimezone(UTC)
        if utc.date() == moment.astimezone(self.zone).date():
            return f"{utc:%H:%M} UTC"
        return f"{_utc_day_time(utc)} UTC"

    def moment(self, moment: datetime) -> str:
        """``Thu 1 Oct 17:05 PDT (2 Oct 00:05 UTC)``; just UTC when the receiver reads UTC."""
        if self.is_utc:
            return self.local(moment)
        return f"{self.local(moment)} ({self.utc_beside(moment)})"

    def window(self, window: TimeWindow) -> str:
        """``Mon 31 Aug 17:00 → Wed 30 Sep 17:00 PDT (1 Sep 00:00 → 1 Oct 00:00 UTC)``."""
        start, end = window.start_dt, window.end_dt
        if start is None and end is None:
            return "not given"
        if start is None or end is None:
            known = start or end
            assert known is not None
            return ("from " if start else "until ") + self.moment(known)
        local_start, local_end = start.astimezone(self.zone), end.astimezone(self.zone)
        same_day = local_start.date() == local_end.date()
        same_zone = local_start.tzname() == local_end.tzname()
        first = self.local(start, zone_name=not same_zone)
        last = f"{local_end:%H:%M} {local_end.tzname()}" if same_day else self.local(end)
        if self.is_utc:
            return f"{first} → {last}"
        return f"{first} → {last} ({_utc_day_time(start)} → {_utc_day_time(end)} UTC)"

    def relative(self, moment: datetime) -> str:
        """``in 3 days`` / ``5 h ago``: how far a moment is from now, roughly."""
        seconds = (moment - self.now).total_seconds()
        span = abs(seconds)
        if span < 3600:
            amount = f"{max(1, round(span / 60))} min"
        elif span < 48 * 3600:
            amount = f"{round(span / 3600)} h"
        else:
            amount = plural(round(span / 86400), "day")
        return f"in {amount}" if seconds >= 0 else f"{amount} ago"


_SENTENCE_ENDS = (".", "!", "?", "…", ":")


def as_sentence(text: str) -> str:
    """``text`` ending as a sentence does (a full stop added when it has none), so that two
    reasons side by side read as two sentences, not "…takes longer Forewarn checked…"."""
    text = text.rstrip()
    return text if not text or text.endswith(_SENTENCE_ENDS) else f"{text}."


def names_within(names: list[str], budget: int, *, separator: str = ", ") -> tuple[str, int]:
    """As many names as fit in ``budget`` characters, and how many were left out."""
    shown: list[str] = []
    used = 0
    for name in names:
        cost = len(name) + (len(separator) if shown else 0)
        if used + cost > budget:
            break
        shown.append(name)
        used += cost
    return separator.join(shown), len(names) - len(shown)


def advice_summary(counts: dict[str, int], labels: dict[str, str]) -> str:
    order = ("self_service", "avoid_self_service", "let_azure", "none")
    parts = [f"{counts[key]} {labels.get(key, key)}" for key in order if counts.get(key)]
    parts += [f"{count} {key}" for key, count in counts.items() if key not in order]
    return ", ".join(parts)


# A moment as machines write it (ISO 8601 with its offset): the wave's notices write their
# per-VM lines once for every receiver, and the Start desk its reasons for the audit.
ISO_MOMENT = re.compile(
    r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})"
)


def say_moments(text: str, clock: ReaderClock, *, utc_beside: bool = False) -> str:
    """``text`` with each ISO 8601 moment as this reader reads times ("Mon 7 Dec 14:17 CET",
    with "(13:17 UTC)" beside it when ``utc_beside``)."""

    def said(found: re.Match[str]) -> str:
        moment = parse_utc(found.group(0))
        return clock.moment(moment) if utc_beside else clock.local(moment)

    return ISO_MOMENT.sub(said, text)
