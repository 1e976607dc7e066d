"""Slack buttons on forewarn's messages, and the signed requests Slack sends when one is pressed.

A message to a bot-token Slack receiver carries an ``actions`` block (``block_id``
``forewarn-claim``): "Claim <vm>" per VM still facing maintenance that nobody has claimed,
"Claim the wave" (every VM of the wave that reaches this receiver), and "Snooze 24 h". Each
button's ``value`` is a short JSON document naming what it acts on and the receiver the message
went to; Slack hands it back unchanged in the ``block_actions`` payload, and a person in Slack
cannot edit it, so once Slack's signature holds the value is ours.

Slack signs each request (https://api.slack.com/authentication/verifying-requests-from-slack,
read 2026-12): the base string ``v0:`` + ``X-Slack-Request-Timestamp`` + ``:`` + the raw body,
HMAC-SHA256 under the app's signing secret, hex, sent as ``X-Slack-Signature: v0=<hex>``; a
timestamp more than five minutes from now is refused (a captured request replayed later). The
payload is the form field ``payload`` holding JSON of ``type`` ``block_actions``
(https://api.slack.com/reference/interaction-payloads/block-actions): ``user`` (``id``,
``username``, ``name``), ``container`` (``channel_id``, ``message_ts``), ``channel``,
``message`` (its ``blocks`` as shown), ``actions`` (``action_id``, ``block_id``, ``value``,
``action_ts``), ``response_url``, ``trigger_id``.

    SlackRequestError
    ├── SlackUnsignedError       a header missing or not of Slack's form
    ├── SlackSignatureError      the signature does not match (forged, or another secret)
    ├── SlackStaleError          the timestamp is more than five minutes away
    └── SlackPayloadError        no ``payload``, not JSON, not ``block_actions``, no action
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from shared.parsing.resource_id import parse_vm_id

HEADER_TIMESTAMP = "X-Slack-Request-Timestamp"
HEADER_SIGNATURE = "X-Slack-Signature"
VERSION = "v0"
TOLERANCE = timedelta(minutes=5)  # Slack's own advice
MAX_BODY_BYTES = 64 * 1024  # a block_actions payload carries the message: Slack caps it far below
BLOCK_ID = "forewarn-claim"
OWNERS_BLOCK_ID = "forewarn-owners"
MAX_VM_BUTTONS = 4  # beside "Claim the wave" and "Snooze 24 h": a row that fits a phone
MAX_SNOOZE_VMS = 10  # VM ids in one button value (Slack allows 2,000 characters)
SNOOZE_HOURS = 24
MAX_VALUE_CHARS = 2000  # Block Kit button ``value``
MAX_BUTTON_TEXT = 75  # Block Kit button ``text``

# action_id prefixes (the text before ":"): shared/slack_interactivity.py maps each to a handler.
ACTION_CLAIM_VM = "claim_vm"
ACTION_CLAIM_WAVE = "claim_wave"
ACTION_SNOOZE = "snooze"
ACTION_START = "start"  # Start now: one plan step (Start from the message, shared/start/)
START_BLOCK_ID = "forewarn-start"


class SlackRequestError(Exception):
    """Base class of refused Slack requests."""


class SlackUnsignedError(SlackRequestError):
    """No signature or timestamp, or not of Slack's form."""


class SlackSignatureError(SlackRequestError):
    """The signature does not match the body and timestamp."""


class SlackStaleError(SlackRequestError):
    """The request's timestamp is more than five minutes from now."""


class SlackPayloadError(SlackRequestError):
    """Signed, but not a button press forewarn can read."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=<hex>``: what Slack sends for ``body`` at ``timestamp``."""
    base = f"{VERSION}:{timestamp}:".encode() + body
    return f"{VERSION}=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str:
    # HTTP header names are case-insensitive; the Functions host and requests differ in case.
    wanted = name.lower()
    return next((str(v) for k, v in headers.items() if k.lower() == wanted), "").strip()


def verify(secret: str, headers: Mapping[str, str], body: bytes, now: datetime) -> str:
    """The request's signature (``v0=…``) if it is Slack's for ``body`` and recent enough."""
    timestamp, signed = _header(headers, HEADER_TIMESTAMP), _header(headers, HEADER_SIGNATURE)
    if not timestamp or not signed:
        raise SlackUnsignedError("not signed: X-Slack-Signature and its timestamp are needed")
    if not timestamp.isdigit() or not signed.startswith(f"{VERSION}=") or not signed.isascii():
        raise SlackUnsignedError("the signature headers are not of Slack's form")
    if abs(now.timestamp() - int(timestamp)) > TOLERANCE.total_seconds():
        raise SlackStaleError("the request's timestamp is more than five minutes away")
    if not hmac.compare_digest(signature(secret, timestamp, body), signed):
        raise SlackSignatureError("the signature does not match")
    return signed


def replay_key(signed: str) -> str:
    """The row that marks a request handled: a digest of its signature (unique per body and
    timestamp, and no credential once the timestamp is stale)."""
    return hashlib.sha256(signed.encode("ascii")).hexdigest()[:40]


@dataclass(frozen=True)
class ButtonPress:
    """One press of one of forewarn's buttons, as Slack reported it."""

    action: str  # the action_id's prefix (before ":"), the dispatch key
    value: dict[str, Any]  # the button's value, decoded
    user_id: str
    user_name: str  # the person as Slack names them (``name``, else ``username``, else the id)
    channel: str
    message_ts: str
    blocks: list[dict[str, Any]]  # the message as the person saw it
    text: str


def parse_press(body: bytes) -> ButtonPress:
    """The first action of a ``block_actions`` payload (a button sends one)."""
    try:
        form = parse_qs(body.decode("utf-8"), max_num_fields=5, strict_parsing=True)
        document = json.loads(form["payload"][0])
    except (UnicodeDecodeError, ValueError, KeyError, IndexError) as error:
        raise SlackPayloadError("no JSON payload field") from error
    if not isinstance(document, dict) or document.get("type") != "block_actions":
        raise SlackPayloadError("not a block_actions payload")
    actions, user = document.get("actions"), document.get("user")
    container, message = document.get("container") or {}, document.get("message") or {}
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise SlackPayloadError("no action in the payload")
    if not isinstance(user, dict) or not isinstance(container, dict):
        raise SlackPayloadError("no user or container in the payload")
    action = actions[0]
    try:
        value = json.loads(str(action.get("value") or "{}"))
    except ValueError:
        value = {}
    channel = str(container.get("channel_id") or (document.get("channel") or {}).get("id") or "")
    return ButtonPress(
        action=str(action.get("action_id") or "").split(":", 1)[0],
        value=value if isinstance(value, dict) else {},
        user_id=str(user.get("id") or ""),
        user_name=" ".join(
            str(user.get("name") or user.get("username") or user.get("id") or "").split()
        ),
        channel=channel,
        message_ts=str(container.get("message_ts") or message.get("ts") or ""),
        blocks=[b for b in message.get("blocks") or [] if isinstance(b, dict)],
        text=str(message.get("text") or ""),
    )


# -- the buttons a message carries ---------------------------------------------------------


@dataclass(frozen=True)
class ClaimableVm:
    vm_id: str
    name: str


def _value(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def _button(text: str, action_id: str, value: str, *, primary: bool = False) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:MAX_BUTTON_TEXT], "emoji": False},
        "action_id": action_id,
        "value": value,
    }
    if primary:
        button["style"] = "primary"
    return button


def claim_block(
    vms: Iterable[ClaimableVm], receiver: str, tracking_id: str
) -> dict[str, Any] | None:
    """The ``actions`` block for a message about ``vms`` sent to ``receiver``, or ``None``
    when nothing in it can be claimed. Plain-text buttons: Slack shows their text as given."""
    open_vms = list(vms)
    if not open_vms:
        return None
    elements = [
        _button(
            f"Claim {vm.name}",
            f"{ACTION_CLAIM_VM}:{number}",
            _value({"vm": vm.vm_id, "r": receiver}),
            primary=len(open_vms) == 1,
        )
        for number, vm in enumerate(open_vms[:MAX_VM_BUTTONS])
        if len(_value({"vm": vm.vm_id, "r": receiver})) <= MAX_VALUE_CHARS
    ]
    wave_value = _value({"wave": tracking_id, "r": receiver})
    if tracking_id and len(open_vms) > 1 and len(wave_value) <= MAX_VALUE_CHARS:
        elements.append(_button("Claim the wave", f"{ACTION_CLAIM_WAVE}:0", wave_value))
    snoozed = [vm.vm_id for vm in open_vms[:MAX_SNOOZE_VMS]]
    while snoozed and len(_value({"vms": snoozed, "r": receiver})) > MAX_VALUE_CHARS:
        snoozed.pop()
    if snoozed:
        value = _value({"vms": snoozed, "r": receiver, "h": SNOOZE_HOURS})
        elements.append(_button(f"Snooze {SNOOZE_HOURS} h", f"{ACTION_SNOOZE}:0", value))
    return {"type": "actions", "block_id": BLOCK_ID, "elements": elements} if elements else None


@dataclass(frozen=True)
class StartableStep:
    """A plan step the message offers to start: its label as shown, and its VMs."""

    step: str  # "step 1"
    vm_ids: tuple[str, ...]


def start_block(
    steps: Iterable[StartableStep], receiver: str, tracking_id: str
) -> dict[str, Any] | None:
    """One "Start step N now" button per step (at most ``MAX_VM_BUTTONS``); ``None`` without a
    wave or a step. The press is checked again in full (shared/start/desk.py): the button
    only says which step, wave and receiver."""
    elements = []
    for number, step in enumerate(list(steps)[:MAX_VM_BUTTONS]):
        value = _value({"w": tracking_id, "s": step.step, "v": list(step.vm_ids), "r": receiver})
        if tracking_id and len(value) <= MAX_VALUE_CHARS:
            elements.append(_button(f"Start {step.step} now", f"{ACTION_START}:{number}", value))
    return (
        {"type": "actions", "block_id": START_BLOCK_ID, "elements": elements} if elements else None
    )


def vm_name(vm_id: str) -> str:
    found = parse_vm_id(vm_id)
    return found.name if found is not None else vm_id


# -- the message after a press ---------------------------------------------------------------


def after_press(
    blocks: list[dict[str, Any]],
    said: list[str],
    settled: Iterable[str] = (),
    *,
    wave_claimed: bool = False,
) -> list[dict[str, Any]]:
    """The message's blocks once a press is done: the "Claim" buttons of the VMs in ``settled``
    (lower-case ids) gone, every "Claim" button gone once the wave is claimed, and ``said``
    (mrkdwn lines, already escaped, ``<vm>: …``) in the owners' context block, one line per VM,
    the newest last. "Snooze" stays: an owner may still want quiet.
    """
    done = {vm.lower() for vm in settled}
    kept: list[dict[str, Any]] = []
    lines: list[str] = []
    for block in blocks:
        if block.get("block_id") == OWNERS_BLOCK_ID:
            parts = [str(e.get("text") or "") for e in block.get("elements") or []]
            lines = [line for part in parts for line in part.split("\n") if line]
            continue
        if block.get("block_id") == BLOCK_ID:
            elements = [e for e in block.get("elements") or [] if _kept(e, done, wave_claimed)]
            if not elements:
                continue
            block = {**block, "elements": elements}
        kept.append(block)
    for line in said:
        lines = [old for old in lines if old.split(":", 1)[0] != line.split(":", 1)[0]] + [line]
    if lines:
        owners = {"type": "mrkdwn", "text": "\n".join(lines[-10:]), "verbatim": True}
        kept.append({"type": "context", "block_id": OWNERS_BLOCK_ID, "elements": [owners]})
    return kept


def _kept(element: dict[str, Any], done: set[str], wave_claimed: bool) -> bool:
    action = str(element.get("action_id") or "").split(":", 1)[0]
    if action == ACTION_CLAIM_WAVE:
        return not wave_claimed
    if action != ACTION_CLAIM_VM:
        return True
    if wave_claimed:
        return False
    try:
        value = json.loads(str(element.get("value") or "{}"))
    except ValueError:
        return True
    return not (isinstance(value, dict) and str(value.get("vm", "")).lower() in done)
