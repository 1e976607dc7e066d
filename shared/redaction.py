"""Redaction and escaping for log text: no secret, no full phone number, one record per line.

Kept apart from :mod:`shared.telemetry` (which wires loggers, traces and counters) because the
rules are pure text functions with their own tests, and other places that print text from
outside (CLI errors, health) may use them without configuring logging.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

_MASK: Final = "***"

# A setting whose name says it holds a secret; its value is redacted wherever it appears.
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CONNECTION_?STRING|SAS", re.I)
_MIN_SECRET_LENGTH: Final = 6  # shorter values ("1", "true") would mask innocent text

_PATTERNS: Final[tuple[tuple[re.Pattern[str], str], ...]] = (
    # JSON Web Tokens (three base64url parts, the first two starting with '{"').
    (re.compile(r"\beyJ[\w-]+\.eyJ[\w-]+\.[\w-]*"), _MASK),
    # Authorization: Bearer <token> (also Basic).
    (re.compile(r"\b(Bearer|Basic)\s+[\w\-.~+/]+=*", re.I), rf"\1 {_MASK}"),
    # Slack tokens (xoxb-, xoxp-, xapp- ...).
    (re.compile(r"\bx(?:ox[abposr]|app)-[\w-]+"), _MASK),
    # Slack incoming-webhook paths and Teams/Logic Apps workflow signatures.
    (re.compile(r"(hooks\.slack\.com/(?:services|workflows|triggers)/)[\w/]+"), rf"\1{_MASK}"),
    # Query parameters that carry credentials: function keys, SAS signatures, tokens.
    (
        re.compile(
            r"([?&](?:code|sig|signature|token|access_token|api[-_]?key|key|secret|password"
            r"|client_secret|x-functions-key)=)[^&\s\"'<>]+",
            re.I,
        ),
        rf"\1{_MASK}",
    ),
    # name=value / "name": "value" pairs whose name says secret (connection strings, JSON, env).
    (
        re.compile(
            r"""(["']?\b[\w.-]*(?:key|token|secret|password|passwd|pwd|credential)[\w.-]*["']?"""
            r"""\s*[:=]\s*["']?)([^\s"',;&}]+)""",
            re.I,
        ),
        rf"\1{_MASK}",
    ),
)
# International phone numbers (E.164 with optional separators): keep the last four digits.
_PHONE = re.compile(r"(?<![\w+])\+\d[\d\s().-]{6,18}\d(?!\w)")


def _mask_phone(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    if len(digits) < 8:
        return match.group(0)
    return "+" + "*" * (len(digits) - 4) + digits[-4:]


class _Redactor:
    """Holds the literal secret values taken from the environment, plus the patterns."""

    def __init__(self) -> None:
        self._literals: tuple[str, ...] = ()

    def learn(self, environ: Mapping[str, str]) -> None:
        values = {
            value
            for name, value in environ.items()
            if _SECRET_NAME.search(name) and len(value) >= _MIN_SECRET_LENGTH
        }
        # Longest first, so a secret that contains another is masked whole.
        self._literals = tuple(sorted(values | set(self._literals), key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for literal in self._literals:
            if literal in text:
                text = text.replace(literal, _MASK)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return _PHONE.sub(_mask_phone, text)


_redactor = _Redactor()


def redact(text: str) -> str:
    """``text`` with anything that looks like a secret or a full phone number masked."""
    return _redactor(text)


# C0 and C1 controls, DEL, and the separators that line readers (str.splitlines, editors,
# some log viewers) treat as a line break: U+2028, U+2029.
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_one(match: re.Match[str]) -> str:
    char = match.group(0)
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` on one line: control characters and line separators as visible escapes.

    Idempotent (an escape contains no control character), so the filter and the formatters
    may both apply it.
    """
    return _CONTROL_CHARACTERS.sub(_escape_one, text)


def clean(text: str) -> str:
    """Redacted, then on one line: what every log format writes."""
    return escape_controls(redact(text))


def learn_secrets(environ: Mapping[str, str]) -> None:
    """Remember the values of settings whose names say they are secret, to mask them."""
    _redactor.learn(environ)
