"""iCalendar's text form (RFC 5545 section 3.1 and 3.3): a value escaped as TEXT, a moment as
a UTC DATE-TIME, a content line folded at 75 octets, as bytes.

    text(value)          a TEXT value: ``\\`` ``;`` ``,`` and line breaks escaped
    utc_stamp(moment)    a DATE-TIME in UTC (``20261207T140000Z``)
    uri(value)           a URI or CAL-ADDRESS value, which RFC 5545 does not escape
    document(lines)      the content lines, each folded and ended by CRLF

Why not ``icalendar``: it writes the same bytes, but builds a typed property object, a
parameter map and a content-line object per property and folds each line one character (and
one ``encode``) at a time: ~0.6 ms per entry, an email's calendar of 100 entries ~60 ms of
CPU on every send, in the delivery worker beside every other channel's send, and ~66 ms to
import once per process (docs/decisions.md, issue 18). What an email's calendar uses of
RFC 5545 is small and fixed (shared/render/calendar.py), so this writes it directly, keeping
the library's choices where RFC 5545 leaves one open (how ``\\N`` and a lone CR are escaped,
where a fold falls next to an escape), so that the file is byte for byte what icalendar 7.3.2
writes: tests/unit/test_ics.py holds the library's output beside this one's on generated and
hostile text, and reads every file back with ``icalendar`` and ``vobject``.

    UnwritableValueError   a URI or CAL-ADDRESS value with a line break (it cannot be escaped)
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

FOLD_OCTETS: Final = 75  # a folded line's octets stay below this, CRLF apart (section 3.1)
_FOLD: Final = b"\r\n "
# After a fold a line must not start inside an escape: a TEXT ``\\`` or an RFC 6868 ``^``
# (what icalendar does, for readers that unfold badly).
_ESCAPES: Final = frozenset(b"\\^")
_CONTINUATION: Final = 0x80  # UTF-8: 0b10xxxxxx continues a character begun before it


class UnwritableValueError(ValueError):
    """A value that no content line can hold as given (a URI with CR or LF)."""


def text(value: str) -> str:
    """``value`` as RFC 5545 TEXT (section 3.3.11).

    Backslash, semicolon and comma are escaped; CRLF, LF and a lone CR each become ``\\n``.
    A literal ``\\N`` (the escape's upper-case spelling) is read as the line break it spells
    before escaping, as icalendar does."""
    return (
        value.replace("\\N", "\n")
        .replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def uri(value: str) -> str:
    """A URI or CAL-ADDRESS value (sections 3.3.3, 3.3.13): written as it is, since neither
    type has escapes; a line break in one would end the content line early, so it is refused."""
    if "\r" in value or "\n" in value:
        raise UnwritableValueError("a URI value may not contain CR or LF")
    return value


def utc_stamp(moment: datetime) -> str:
    """A DATE-TIME in UTC form (section 3.3.5, FORM #2); ``moment`` must be in UTC."""
    return (
        f"{moment.year:04}{moment.month:02}{moment.day:02}"
        f"T{moment.hour:02}{moment.minute:02}{moment.second:02}Z"
    )


def fold(line: str) -> bytes:
    """One content line, UTF-8, folded ("CRLF space") before it would reach 75 octets.

    A fold never splits a character, and moves back one octet when the part before it would
    end in an escape's first character (``\\`` or ``^``)."""
    data = line.encode("utf-8")
    size = len(data)
    if size < FOLD_OCTETS:
        return data
    parts: list[bytes] = []
    start = 0
    while size - start >= FOLD_OCTETS:
        cut = start + FOLD_OCTETS - 1
        while data[cut] & 0xC0 == _CONTINUATION:
            cut -= 1
        if data[cut - 1] in _ESCAPES:
            cut -= 1
        parts.append(data[start:cut])
        start = cut
    parts.append(data[start:])
    return _FOLD.join(parts)


def document(lines: Iterable[str]) -> bytes:
    """The content lines as an iCalendar stream: each folded and followed by CRLF."""
    return b"".join(fold(line) + b"\r\n" for line in lines)
