"""Signed action links: a URL in a message that lets its reader do one thing, once.

A token says what (``action``: ``claim``), about what (``subject``: a VM id), for whom
(``receiver``: the receiver the message went to) and until when (``expires``), signed with
HMAC-SHA256 under ``FOREWARN_ACTION_LINK_KEY``:

    <base64url of the JSON payload>.<base64url of HMAC-SHA256(key, that base64url text)>

The signature covers the payload's encoded text, so any change to action, subject, receiver or
expiry breaks it. The link itself changes nothing: a GET shows what it would do and asks to
confirm, a POST does it (shared/actions.py), once (``actionsused``).

    ActionLinkError
    ├── ActionLinkMalformedError   not a token at all
    ├── ActionLinkTamperedError    signature does not match (changed, or another key)
    └── ActionLinkExpiredError     past its expiry
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from shared import names

ACTIONS = ("claim",)
LINK_LIFETIME = timedelta(days=7)  # a wave's self-service window is rarely longer
MIN_KEY_CHARS = 16


class ActionLinkError(Exception):
    """Base class of action-link failures."""


class ActionLinkMalformedError(ActionLinkError):
    """Not a token this app makes."""


class ActionLinkTamperedError(ActionLinkError):
    """The signature does not match the payload."""


class ActionLinkExpiredError(ActionLinkError):
    """The link's time is up."""


@dataclass(frozen=True)
class ActionLink:
    action: str
    subject: str  # a VM resource id
    receiver: str
    expires: int  # Unix seconds

    def expired(self, now: datetime) -> bool:
        return now.timestamp() >= self.expires

    def payload(self) -> dict[str, Any]:
        return {"a": self.action, "s": self.subject, "r": self.receiver, "e": self.expires}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: str, text: str) -> str:
    return _b64(hmac.new(key.encode("utf-8"), text.encode("ascii"), hashlib.sha256).digest())


def sign(link: ActionLink, key: str) -> str:
    if link.action not in ACTIONS:
        raise ActionLinkMalformedError(f"unknown action {link.action!r}")
    body = _b64(json.dumps(link.payload(), separators=(",", ":"), sort_keys=True).encode())
    return f"{body}.{_mac(key, body)}"


def verify(token: str, key: str, now: datetime) -> ActionLink:
    """The link a token carries, if its signature holds and its time is not up."""
    body, dot, mac = token.partition(".")
    if not dot or not body or not mac or not body.isascii() or not mac.isascii():
        raise ActionLinkMalformedError("not an action link")
    if not hmac.compare_digest(_mac(key, body), mac):
        raise ActionLinkTamperedError("the link's signature does not match")
    try:
        data = json.loads(_unb64(body))
        link = ActionLink(str(data["a"]), str(data["s"]), str(data["r"]), int(data["e"]))
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        # Signed by us yet unreadable: only if the key leaked and someone signed rubbish.
        raise ActionLinkMalformedError("the link's payload does not parse") from error
    if link.action not in ACTIONS:
        raise ActionLinkMalformedError(f"unknown action {link.action!r}")
    if link.expired(now):
        raise ActionLinkExpiredError("the link has expired")
    return link


def used_key(token: str) -> str:
    """The row that marks a token used: its digest (the token itself is a credential)."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()[:40]


@dataclass(frozen=True)
class ClaimLinks:
    """Makes the "Claim" link of each VM in a message; ``None`` from ``from_settings`` when
    ``FOREWARN_PUBLIC_URL`` or a usable ``FOREWARN_ACTION_LINK_KEY`` is missing (no links)."""

    base_url: str
    key: str

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> ClaimLinks | None:
        base = (environ.get(names.SETTING_PUBLIC_URL) or "").strip()
        key = environ.get(names.SETTING_ACTION_LINK_KEY) or ""
        if not base or len(key) < MIN_KEY_CHARS:
            return None
        return cls(base, key)

    def url(self, vm_id: str, receiver: str, now: datetime) -> str:
        return claim_url(self.base_url, vm_id, receiver, self.key, now)


def claim_url(base_url: str, vm_id: str, receiver: str, key: str, now: datetime) -> str:
    """``<base>/api/actions/<token>``: the link to claim ``vm_id`` for ``receiver``."""
    expires = int((now + LINK_LIFETIME).timestamp())
    token = sign(ActionLink("claim", vm_id, receiver, expires), key)
    return f"{base_url.rstrip('/')}/api/actions/{quote(token, safe='.-_')}"
