"""Signed action links: a URL in a message that lets its reader do one thing, once.

A token says what (``action``: ``claim`` or ``start``), about what (``subject``: a VM id; for
``start``, the plan step as the message names it, with the wave's tracking id in ``wave`` and
the step's VM ids in ``vms``), for whom (``receiver``: the receiver the message went to) and
until when (``expires``), signed with HMAC-SHA256 under ``FOREWARN_ACTION_LINK_KEY``:

    <base64url of the JSON payload>.<base64url of HMAC-SHA256(key, that base64url text)>

The signature covers the payload's encoded text, so any change to action, subject, wave, VMs,
receiver or expiry breaks it. The link itself changes nothing: a GET shows what it would do and
asks to confirm, a POST does it (shared/actions.py), once (``actionsused``).

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

ACTIONS = ("claim", "start")
LINK_LIFETIME = timedelta(days=7)  # a wave's self-service window is rarely longer
# A Start link names every VM of its step; more would make a URL mail clients cut (and such a
# step is a scale set's update domain, which Azure's guidance leaves to Azure anyway).
MAX_START_VMS = 5
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
    subject: str  # a VM resource id; for ``start`` the step's label ("step 1")
    receiver: str
    expires: int  # Unix seconds
    wave: str = ""  # ``start``: the wave's tracking id
    vms: tuple[str, ...] = ()  # ``start``: the step's VM resource ids

    def expired(self, now: datetime) -> bool:
        return now.timestamp() >= self.expires

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "a": self.action,
            "s": self.subject,
            "r": self.receiver,
            "e": self.expires,
        }
        # Only when set, so a claim token is exactly what it was before Start existed.
        if self.wave:
            data["w"] = self.wave
        if self.vms:
            data["v"] = list(self.vms)
        return data


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
        vms = data.get("v", [])
        if not isinstance(vms, list):
            raise TypeError("v is not a list")
        link = ActionLink(
            str(data["a"]),
            str(data["s"]),
            str(data["r"]),
            int(data["e"]),
            str(data.get("w", "")),
            tuple(str(vm) for vm in vms),
        )
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        # Signed by us yet unreadable: only if the key leaked and someone signed rubbish.
        raise ActionLinkMalformedError("the link's payload does not parse") from error
    if link.action not in ACTIONS:
        raise ActionLinkMalformedError(f"unknown action {link.action!r}")
    if link.action == "start" and not (link.wave and 0 < len(link.vms) <= MAX_START_VMS):
        raise ActionLinkMalformedError("a start link names its wave and one to five VMs")
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


@dataclass(frozen=True)
class StartLinks:
    """Makes the "Start now" link of a plan step; ``None`` from ``from_settings`` unless
    Start from the message is on (``FOREWARN_ENABLE_START_FROM_MESSAGE``) and links are set up.
    """

    base_url: str
    key: str

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> StartLinks | None:
        links = ClaimLinks.from_settings(environ)
        if links is None or not start_enabled(environ):
            return None
        return cls(links.base_url, links.key)

    def url(
        self, wave: str, step: str, vm_ids: list[str], receiver: str, now: datetime
    ) -> str | None:
        """The link, or ``None`` when the step has no VM or more than ``MAX_START_VMS``."""
        if not wave or not vm_ids or len(vm_ids) > MAX_START_VMS:
            return None
        expires = int((now + LINK_LIFETIME).timestamp())
        link = ActionLink("start", step, receiver, expires, wave, tuple(vm_ids))
        token = sign(link, self.key)
        return f"{self.base_url.rstrip('/')}/api/actions/{quote(token, safe='.-_')}"


def start_enabled(environ: Mapping[str, str]) -> bool:
    """``FOREWARN_ENABLE_START_FROM_MESSAGE`` says yes (true, 1, yes, on)."""
    value = (environ.get(names.SETTING_ENABLE_START_FROM_MESSAGE) or "").strip().lower()
    return value in {"true", "1", "yes", "on"}
