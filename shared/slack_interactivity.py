"""``POST /api/slack/interactivity``: a person pressed a button on one of forewarn's Slack
messages (shared/wave/slack_buttons.py draws them).

    1. Slack's signature over the raw body, with FOREWARN_SLACK_SIGNING_SECRET: unsigned 401,
       forged or older than five minutes 403, no secret 503 (nothing read further)
    2. handled once: the signature's digest is inserted in ``slackrequests``; a request already
       there (a replay, or Slack sending it again) answers 200 and changes nothing
    3. the ``block_actions`` payload's first action, dispatched by its action_id's prefix
       through ``HANDLERS``: claim the VM, claim the wave for the receiver, snooze 24 h, start
       a plan step (Start from the message: the Slack user id must be on the receiver's
       ``start_from_message`` allow-list; every check of shared/start/desk.py is made)
    4. the message updated in place (``chat.update`` with the receiver's bot token): "sql-02:
       claimed by Alice", the pressed VM's button gone

Slack wants an answer within 3 seconds or it shows the person an error
(https://api.slack.com/interactivity/handling#acknowledgment_response). Everything above is
two table writes and one Slack call capped at ``UPDATE_TIMEOUT``, so it is done before the
answer rather than queued: the person sees the message change as they press. An update that
fails leaves the claim in place (it is the state that matters) and is logged.

To add a button: give it an action_id ``<name>:<n>`` in slack_buttons.py and put ``<name>``
in ``HANDLERS`` with a function ``(press, context) -> Outcome`` (e.g. a "start" button that
starts maintenance). Handlers return what the message should say; they never call Slack.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared import names
from shared.channels.slack import SlackSender
from shared.render.slack import escape
from shared.render.text import ReaderClock, say_moments, zone_or_utc
from shared.routing.config import ConfigCache, RoutingConfigError, config_path
from shared.routing.rules import RoutingConfig
from shared.start.desk import StartDesk, StartRequest, names_of
from shared.storage import EntityTable, StorageError, StorageServices
from shared.telemetry import get_logger
from shared.timeutil import format_utc, utc_now
from shared.wave.claims import MAX_NAME_CHARS, ClaimError, ClaimStore, OnClaimed
from shared.wave.slack_buttons import (
    ACTION_CLAIM_VM,
    ACTION_CLAIM_WAVE,
    ACTION_SNOOZE,
    ACTION_START,
    MAX_BODY_BYTES,
    SNOOZE_HOURS,
    ButtonPress,
    SlackPayloadError,
    SlackSignatureError,
    SlackStaleError,
    SlackUnsignedError,
    after_press,
    parse_press,
    replay_key,
    verify,
    vm_name,
)

log = get_logger(__name__)

SECRET_OK = "ok"  # noqa: S105 (a state word, never a value)
# No secret: Slack buttons are not used (the route answers 503).
SECRET_OFF = "off"  # noqa: S105 (a state word, never a value)
UPDATE_TIMEOUT = 2.0  # seconds for chat.update: the whole answer stays inside Slack's 3 s
MIN_SECRET_CHARS = 16  # Slack's signing secrets are 32 hex characters
HANDLED_PARTITION_FORMAT = "%Y%m%d"  # one partition per day: old days can be dropped whole


@dataclass(frozen=True)
class SlackAnswer:
    """What the route answers. Slack reads only the status; the body is for logs and tests."""

    status: int
    body: dict[str, Any]

    def text(self) -> str:
        return json.dumps(self.body, separators=(",", ":"))


@dataclass(frozen=True)
class Outcome:
    """What a handler did, for the message: lines to show, VMs whose Claim button goes."""

    said: list[str]
    settled: list[str] = field(default_factory=list)
    wave_claimed: bool = False


@dataclass(frozen=True)
class ActionContext:
    claims: ClaimStore
    now: datetime
    start: StartDesk | None = None  # Start from the message (None: not set up here)
    zone: str = "UTC"  # the pressed message's receiver's time zone: moments said are in it


class ButtonValueError(ClaimError):
    """A button's value lacks what its action needs (a message from another version)."""


Handler = Callable[[ButtonPress, ActionContext], Outcome]


def _person(press: ButtonPress) -> str:
    return press.user_name[:MAX_NAME_CHARS]


def _receiver(press: ButtonPress) -> str:
    receiver = str(press.value.get("r") or "").strip()
    if not receiver:
        raise ButtonValueError("the button names no receiver")
    return receiver


def claim_vm(press: ButtonPress, context: ActionContext) -> Outcome:
    vm_id = str(press.value.get("vm") or "")
    claim = context.claims.claim_vm(vm_id, _person(press), _receiver(press), context.now)
    return Outcome([f"{escape(vm_name(vm_id))}: claimed by {escape(claim.by)}"], [vm_id])


def claim_wave(press: ButtonPress, context: ActionContext) -> Outcome:
    wave = str(press.value.get("wave") or "")
    claim = context.claims.claim_wave(wave, _person(press), _receiver(press), context.now)
    line = f"Wave {escape(claim.key)}: claimed by {escape(claim.by)} for {escape(claim.receiver)}"
    return Outcome([line], wave_claimed=True)


def snooze(press: ButtonPress, context: ActionContext) -> Outcome:
    vms = press.value.get("vms")
    if not isinstance(vms, list) or not vms:
        raise ButtonValueError("the button names no VM")
    hours = press.value.get("h", SNOOZE_HOURS)
    until = context.now + timedelta(hours=hours if isinstance(hours, int) else SNOOZE_HOURS)
    for vm_id in vms:
        context.claims.snooze(str(vm_id), until)
    who = ", ".join(escape(vm_name(str(vm))) for vm in vms)
    clock = ReaderClock(zone_or_utc(context.zone), "en", context.now)
    return Outcome(
        [
            f"{who}: reminders snoozed until {clock.local(until)} by {escape(_person(press))} "
            "(the last one before a deadline still goes out on time)"
        ]
    )


def start(press: ButtonPress, context: ActionContext) -> Outcome:
    """Start a plan step for the person pressing, if every check passes now.

    The person is the Slack user id, which Slack's signature vouches for; the allow-list holds
    Slack user ids. Slack wants an answer within 3 seconds, so the operation is started and
    not followed here: the message says it is under way, and the sweep (and the
    Administrative alert) tell the wave's thread when Azure reports it done.
    """
    wave = str(press.value.get("w") or "")
    step = str(press.value.get("s") or "")
    vms = press.value.get("v")
    if not wave or not step or not isinstance(vms, list) or not vms:
        raise ButtonValueError("the button names no wave, step or VM")
    request = StartRequest(
        wave,
        step,
        tuple(str(vm) for vm in vms),
        _receiver(press),
        press.user_id,
        link=f"slack:{press.channel}:{press.message_ts}:{step}",
        via="slack",
    )
    who = f"<@{escape(press.user_id)}>" if press.user_id else "someone"
    if context.start is None:
        return Outcome([f"{escape(step)}: not started by {who}: Start is not set up here"])
    outcome = context.start.start(request, context.now, follow_seconds=0.0)
    # The desk writes its reasons with ISO 8601 moments, for the audit; people read them here.
    said = say_moments(outcome.text, ReaderClock(zone_or_utc(context.zone), "en", context.now))
    text = said if outcome.result != "refused" else f"not started: {said}"
    return Outcome(
        [f"{escape(step)} ({escape(names_of(request.vm_ids))}), pressed by {who}: {escape(text)}"]
    )


# action_id prefix -> handler. Another button is one more entry (see the module docstring).
HANDLERS: dict[str, Handler] = {
    ACTION_CLAIM_VM: claim_vm,
    ACTION_CLAIM_WAVE: claim_wave,
    ACTION_SNOOZE: snooze,
    ACTION_START: start,
}


def signing_secret_state(environ: Mapping[str, str]) -> str:
    """For /api/health: ok, off (unset), or what is wrong, named by setting, never by value."""
    setting = names.SETTING_SLACK_SIGNING_SECRET
    value = environ.get(setting, "").strip()
    if not value:
        return SECRET_OFF
    if value.lower().startswith("@microsoft.keyvault("):
        return f"unresolved ({setting} is a Key Vault reference that did not resolve)"
    if len(value) < MIN_SECRET_CHARS:
        return f"too short ({setting} needs {MIN_SECRET_CHARS} characters or more)"
    return SECRET_OK


def forget_handled(table: EntityTable, now: datetime) -> int:
    """Drop the marks of requests handled before yesterday (the sweep timer calls this): a
    request that old is refused as stale before its mark is looked at, so a mark only has to
    outlive Slack's five minutes, and the table holds about a day of presses."""
    keep_from = (now - timedelta(days=1)).strftime(HANDLED_PARTITION_FORMAT)
    old = [
        (str(row["PartitionKey"]), str(row["RowKey"]))
        for row in table.query()
        if str(row.get("PartitionKey", "")) < keep_from
    ]
    for partition, row in old:
        table.delete(partition, row)
    return len(old)


class SlackInteractivity:
    """Checks and handles button presses; ``handled`` and the claims are tables."""

    def __init__(
        self,
        secret: str | None,
        handled: EntityTable,
        claims: ClaimStore,
        routing: Callable[[], RoutingConfig],
        sender: SlackSender,
        handlers: Mapping[str, Handler] | None = None,
        start: StartDesk | None = None,
        on_claimed: OnClaimed | None = None,
    ) -> None:
        self._on_claimed = on_claimed  # the escalation a claim ends, resolved at once
        self._secret = secret if secret and len(secret) >= MIN_SECRET_CHARS else None
        self._handled = handled
        self._claims = claims
        self._routing = routing
        self._sender = sender
        self._handlers = dict(HANDLERS if handlers is None else handlers)
        self._start = start

    @classmethod
    def from_settings(cls, environ: Mapping[str, str]) -> SlackInteractivity:
        from shared.actions import start_desk
        from shared.wave.runner import resolve_claimed_now

        storage = StorageServices.from_settings(environ)
        configs = ConfigCache()
        return cls(
            environ.get(names.SETTING_SLACK_SIGNING_SECRET),
            storage.table(names.TABLE_SLACK_REQUESTS),
            ClaimStore(storage.table(names.TABLE_CLAIMS)),
            lambda: configs.get(config_path(environ)),
            SlackSender(environ),
            start=start_desk(environ, storage),
            on_claimed=lambda now, vm, wave: resolve_claimed_now(
                environ, storage, now, vm_id=vm, wave=wave
            ),
        )

    def handle(
        self, headers: Mapping[str, str], body: bytes, now: datetime | None = None
    ) -> SlackAnswer:
        now = now or utc_now()
        if self._secret is None:
            return SlackAnswer(503, {"ok": False, "error": "no_signing_secret"})
        if len(body) > MAX_BODY_BYTES:
            return SlackAnswer(413, {"ok": False, "error": "too_large"})
        try:
            signed = verify(self._secret, headers, body, now)
        except SlackUnsignedError:
            return SlackAnswer(401, {"ok": False, "error": "unsigned"})
        except SlackStaleError:
            return SlackAnswer(403, {"ok": False, "error": "stale"})
        except SlackSignatureError:
            return SlackAnswer(403, {"ok": False, "error": "bad_signature"})
        try:
            mark = {"at": format_utc(now)}
            day = now.strftime(HANDLED_PARTITION_FORMAT)
            if not self._handled.insert_if_absent(day, replay_key(signed), mark):
                return SlackAnswer(200, {"ok": True, "replayed": True})
            return self._press(body, now)
        except StorageError as error:
            log.warning("slack interactivity: storage unavailable: %s", error)
            return SlackAnswer(503, {"ok": False, "error": "storage"})

    def _press(self, body: bytes, now: datetime) -> SlackAnswer:
        try:
            press = parse_press(body)
        except SlackPayloadError as error:
            return SlackAnswer(400, {"ok": False, "error": "payload", "detail": str(error)})
        handler = self._handlers.get(press.action)
        if handler is None:
            log.info("slack interactivity: no handler for action %r", press.action[:40])
            return SlackAnswer(200, {"ok": False, "error": "unknown_action"})
        try:
            context = ActionContext(self._claims, now, self._start, self._zone_of(press))
            outcome = handler(press, context)
        except ClaimError as error:
            log.info("slack interactivity: %s not done: %s", press.action, error)
            return SlackAnswer(200, {"ok": False, "error": "not_done", "detail": str(error)})
        updated = self._update(press, outcome)
        if self._on_claimed is not None and press.action == ACTION_CLAIM_VM:
            self._on_claimed(now, str(press.value.get("vm") or ""), None)
        elif self._on_claimed is not None and press.action == ACTION_CLAIM_WAVE:
            self._on_claimed(now, None, str(press.value.get("wave") or ""))
        return SlackAnswer(200, {"ok": True, "action": press.action, "updated": updated})

    def _zone_of(self, press: ButtonPress) -> str:
        """The time zone of the receiver the pressed message was for (UTC when unknown)."""
        name = str(press.value.get("r") or "")
        try:
            found = self._routing().receivers.get(name)
        except RoutingConfigError:
            return "UTC"
        return found.timezone if found is not None else "UTC"

    def _update(self, press: ButtonPress, outcome: Outcome) -> bool:
        """The message changed in place; ``False`` (logged) when it could not be."""
        name = str(press.value.get("r") or "")
        try:
            receiver = self._routing().receivers.get(name)
        except RoutingConfigError as error:
            log.warning(
                "slack interactivity: routing file unusable, message not updated: %s", error
            )
            return False
        if receiver is None or receiver.type != "slack" or not press.channel:
            log.warning("slack interactivity: no Slack receiver %r to update through", name[:80])
            return False
        blocks = after_press(
            press.blocks, outcome.said, outcome.settled, wave_claimed=outcome.wave_claimed
        )
        message = {"text": press.text or " ".join(outcome.said), "blocks": blocks}
        result = self._sender.update(
            receiver, press.channel, press.message_ts, message, UPDATE_TIMEOUT
        )
        if not result.delivered:
            log.warning("slack interactivity: message not updated: %s", result.reason)
        return result.delivered
