"""The options each channel's receivers take, and which values its sender refuses.

`forewarn config validate` (``shared.routing.checks``) asks :func:`option_problems`, so a file
that validates never holds a value the sender would refuse at send time (which would
dead-letter every message). The checks call the senders' own parsers (``email.TLS_MODES``,
``email.smtp_port``, ``email.trust_store``, ``base.timeout_of``) rather than restating them;
``tests/unit/test_channel_options_agree.py`` records which options each sender reads and
proves that every refused value is refused here too.

Only plain values are checked: an option given as ``<name>_setting`` is read from the app
settings at send time, which the routing file cannot know.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Final

from shared.channels.base import ChannelConfigError, timeout_of
from shared.channels.email import TLS_MODES, smtp_port, trust_store
from shared.models import Receiver

# Every option a sender reads, by channel (an option may also be given as <name>_setting).
KNOWN_OPTIONS: Final[Mapping[str, frozenset[str]]] = {
    "email": frozenset(
        {
            "smtp_host",
            "smtp_port",
            "tls",
            "ca_file",
            "username",
            "password",
            "from",
            "ehlo_name",
            "timeout",
        }
    ),
    "sms": frozenset(
        {"account_sid", "auth_token", "from", "messaging_service_sid", "api_base", "timeout"}
    ),
    "slack": frozenset({"webhook_url", "token", "api_base", "timeout"}),
    "teams": frozenset({"webhook_url", "timeout"}),
    "webhook": frozenset({"url", "secret", "timeout"}),
    "pagerduty": frozenset({"routing_key", "api_base", "timeout"}),
}


def _timeout(value: str) -> str | None:
    try:
        seconds = timeout_of(Receiver("r", "webhook", [], options={"timeout": value}), {})
    except ChannelConfigError:
        return f"timeout must be a positive number of seconds, not {value!r}"
    if not math.isfinite(seconds):
        return f"timeout must be a finite number of seconds, not {value!r}"
    return None


def _http_url(value: str) -> str | None:
    scheme, separator, rest = value.partition("://")
    if separator and scheme.lower() in ("http", "https") and rest.split("/", 1)[0]:
        return None
    return f"{value!r} must be an http(s) URL like https://host/path"


def _tls(value: str) -> str | None:
    if value.lower() in TLS_MODES:
        return None
    hint = {"ssl": " (SMTPS on port 465 is 'implicit')", "none": " (plain SMTP is 'off')"}
    return f"tls must be one of {', '.join(TLS_MODES)}, not {value!r}{hint.get(value.lower(), '')}"


def _port(value: str) -> str | None:
    try:
        smtp_port(value)
    except ChannelConfigError as error:
        return str(error)
    return None


def _ca_file(value: str) -> str | None:
    try:
        trust_store(value)
    except ChannelConfigError as error:
        return str(error)
    return None


Check = Callable[[str], str | None]

# The options whose plain values are checked, by channel.
CHECKED_OPTIONS: Final[Mapping[str, Mapping[str, Check]]] = {
    "email": {"tls": _tls, "smtp_port": _port, "ca_file": _ca_file, "timeout": _timeout},
    "sms": {"api_base": _http_url, "timeout": _timeout},
    "slack": {"api_base": _http_url, "timeout": _timeout},
    "teams": {"timeout": _timeout},
    "webhook": {"url": _http_url, "timeout": _timeout},
    "pagerduty": {"api_base": _http_url, "timeout": _timeout},
}


def option_problems(channel: str, options: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(option, message)`` for every value the channel's sender would refuse."""
    problems: list[tuple[str, str]] = []
    for key, check in CHECKED_OPTIONS.get(channel, {}).items():
        if key in options:
            message = check(options[key])
            if message is not None:
                problems.append((key, message))
    plain_smtp = channel == "email" and options.get("tls", "").lower() == "off"
    if plain_smtp and ("username" in options or "username_setting" in options):
        # The sender never sends credentials over plain SMTP.
        problems.append(("tls", "tls 'off' with a username: credentials need TLS"))
    return problems


def unknown_options(channel: str, options: Mapping[str, str]) -> list[str]:
    """Options the channel's sender never reads (a typo is silently ignored otherwise)."""
    known = KNOWN_OPTIONS.get(channel, frozenset())
    return [key for key in options if key.removesuffix("_setting") not in known]
