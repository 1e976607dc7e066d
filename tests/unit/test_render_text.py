"""The one cleaning step every renderer's text goes through (shared/render/text.py)."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from shared.render.text import clean, clip, strip_invisible

HIDDEN_CATEGORIES = ("Cc", "Cf", "Cs")


def test_every_format_control_and_surrogate_character_is_stripped() -> None:
    # GIVEN every code point this Python's Unicode tables class as control, format or surrogate
    # (the regex lists them by hand, so a newer Unicode must not slip past it unnoticed)
    hidden = [
        chr(point)
        for point in range(sys.maxunicode + 1)
        if unicodedata.category(chr(point)) in HIDDEN_CATEGORIES and chr(point) not in "\t\n\r"
    ]
    # THEN each is removed
    survivors = [f"U+{ord(char):04X}" for char in hidden if strip_invisible(char)]
    assert hidden and not survivors


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param("a\u202eb\u2066c\u2069", "abc", id="bidi-override-and-isolate"),
        pytest.param("in\u00advisible\u200b", "invisible", id="soft-hyphen-zero-width"),
        pytest.param("\u3164\u115f\u1160\uffa0name", "name", id="hangul-fillers"),
        pytest.param("tag\U000e0041\U000e007f", "tag", id="tag-characters"),
        pytest.param("one\r\ntwo\u2028three\x85four", "one two three four", id="line-breaks"),
        pytest.param("  lots   of\tspace ", "lots of space", id="spaces-collapsed"),
    ],
)
def test_clean_leaves_one_visible_line(given: str, expected: str) -> None:
    assert clean(given) == expected


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        pytest.param("abcdef", 6, "abcdef", id="fits"),
        pytest.param("abcdef", 4, "abc…", id="cut-with-marker"),
        pytest.param("abcdef", 1, "a", id="no-room-for-marker"),
        pytest.param("abcdef", 0, "", id="no-room-at-all"),
    ],
)
def test_clip_never_exceeds_its_limit(text: str, limit: int, expected: str) -> None:
    assert clip(text, limit) == expected


def test_clean_cuts_to_a_limit_with_a_marker() -> None:
    assert clean("x" * 100_000, 100) == "x" * 99 + "…"
