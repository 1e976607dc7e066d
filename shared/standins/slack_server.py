"""A stand-in Slack: incoming webhooks and ``chat.postMessage``, answering as Slack does.

Shapes (https://api.slack.com/methods/chat.postMessage, the 2016-05-17 changelog
"Improving error conditions for Incoming Webhooks", https://api.slack.com/docs/rate-limits):
- incoming webhook ``POST /services/T…/B…/…``: 200 ``ok`` (text); 400 ``invalid_payload`` or
  ``no_text``, 403 ``action_prohibited``, 404 ``channel_not_found``/``no_service``,
  410 ``channel_is_archived``, 429 with ``Retry-After``, 500 ``rollup_error``.
- ``POST /api/chat.postMessage`` with ``Authorization: Bearer xoxb-…``: HTTP 200
  ``{"ok": true, "channel": "C…", "ts": "1712345678.000100", "message": {…}}`` or HTTP 200
  ``{"ok": false, "error": "invalid_auth" | "channel_not_found" | "msg_too_long" | …}``;
  rate limits are HTTP 429 with ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``.
- ``POST /api/chat.update`` (https://api.slack.com/methods/chat.update) with ``channel``, ``ts``
  and new ``text``/``blocks``: ``{"ok": true, "channel", "ts", "text"}``, or ``ok: false`` with
  ``message_not_found`` for a ``ts`` never posted. Updates are kept in ``updates``.
- a person pressing a button: ``press`` builds the ``block_actions`` request Slack would send to
  the app's Interactivity Request URL (form field ``payload``, shaped on Slack's documented
  sample: https://api.slack.com/reference/interaction-payloads/block-actions) and signs it with
  the signing secret as Slack does (https://api.slack.com/authentication/verifying-requests-from-slack).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests

from shared.standins.stand_in import Answer, Failure, Recorded, StandIn
from shared.wave.slack_buttons import HEADER_SIGNATURE, HEADER_TIMESTAMP, signature

WEBHOOK_PATH = "/services/T0FOREWARN/B0FOREWARN/fakeWebhookSecret0000"
BOT_TOKEN = "xoxb-0000000000-forewarn-test-token"
CHANNELS = ("C0FOREWARN1", "C0FOREWARN2")
SIGNING_SECRET = "0f0e0d0c0b0a09080706050403020100"  # the stand-in Slack app's, loopback only
INTERACTIVITY_PATH = "/api/slack/interactivity"
MAX_TEXT = 40_000
MAX_BLOCKS = 50

_WEBHOOK_ERRORS = {
    400: "invalid_payload",
    403: "action_prohibited",
    404: "channel_not_found",
    410: "channel_is_archived",
    429: "rate_limited",
    500: "rollup_error",
}


@dataclass(frozen=True)
class SlackMessage:
    mode: str  # "webhook" | "api"
    channel: str
    text: str
    blocks: list[dict[str, Any]]
    ts: str
    thread_ts: str | None = None  # set on a reply in another message's thread


class SlackStandIn(StandIn):
    name = "slack"

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[SlackMessage] = []
        self.updates: list[SlackMessage] = []  # chat.update calls, the new content and its ts
        self._serial = itertools.count(100)
        self._messages_lock = threading.Lock()

    @property
    def webhook_url(self) -> str:
        return self.base_url + WEBHOOK_PATH

    @property
    def api_base(self) -> str:
        return self.base_url + "/api"

    def forget(self) -> None:
        with self._messages_lock:
            self.messages.clear()
            self.updates.clear()

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._serial):06d}"

    def answer(self, request: Recorded) -> Answer:
        if request.path.startswith("/services/"):
            return self._webhook(request)
        if request.path == "/api/chat.postMessage":
            return self._post_message(request)
        if request.path == "/api/chat.update":
            return self._update(request)
        return Answer.text(404, "not_found")

    def fail(self, failure: Failure, request: Recorded) -> Answer:
        status = failure.status or 500
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
        if request.path.startswith("/services/"):
            return Answer.text(status, _WEBHOOK_ERRORS.get(status, "internal_error"), **headers)
        if status == 429:
            return Answer.json(429, {"ok": False, "error": "ratelimited"}, **headers)
        if failure.error:  # Slack's usual way: HTTP 200 and ok: false
            return Answer.json(status, {"ok": False, "error": failure.error}, **headers)
        return Answer.text(status, "internal_error", **headers)

    def _webhook(self, request: Recorded) -> Answer:
        if request.path != WEBHOOK_PATH:
            return Answer.text(404, "no_service")
        try:
            document = request.json()
        except ValueError:
            return Answer.text(400, "invalid_payload")
        answer = self._check(document)
        if answer is not None:
            return Answer.text(400, answer)
        self._keep("webhook", "#webhook", document)
        return Answer.text(200, "ok")

    def _post_message(self, request: Recorded) -> Answer:
        auth = request.headers.get("Authorization", "")
        if not auth:
            return Answer.json(200, {"ok": False, "error": "not_authed"})
        if auth != f"Bearer {BOT_TOKEN}":
            return Answer.json(200, {"ok": False, "error": "invalid_auth"})
        try:
            document = request.json()
        except ValueError:
            return Answer.json(200, {"ok": False, "error": "invalid_json"})
        channel = str(document.get("channel", ""))
        if channel not in CHANNELS:
            return Answer.json(200, {"ok": False, "error": "channel_not_found"})
        problem = self._check(document)
        if problem is not None:
            return Answer.json(200, {"ok": False, "error": problem})
        message = self._keep("api", channel, document)
        return Answer.json(
            200,
            {
                "ok": True,
                "channel": channel,
                "ts": message.ts,
                "message": {
                    "type": "message",
                    "subtype": "bot_message",
                    "text": message.text,
                    "ts": message.ts,
                    "bot_id": "B0FOREWARN",
                    "blocks": message.blocks,
                },
            },
        )

    def _update(self, request: Recorded) -> Answer:
        if request.headers.get("Authorization", "") != f"Bearer {BOT_TOKEN}":
            return Answer.json(200, {"ok": False, "error": "invalid_auth"})
        try:
            document = request.json()
        except ValueError:
            return Answer.json(200, {"ok": False, "error": "invalid_json"})
        channel, ts = str(document.get("channel", "")), str(document.get("ts", ""))
        with self._messages_lock:
            known = any(m.channel == channel and m.ts == ts for m in self.messages)
        if not known:
            return Answer.json(200, {"ok": False, "error": "message_not_found"})
        problem = self._check(document)
        if problem is not None:
            return Answer.json(200, {"ok": False, "error": problem})
        update = SlackMessage(
            "api",
            channel,
            str(document.get("text") or ""),
            list(document.get("blocks") or []),
            ts,
        )
        with self._messages_lock:
            self.updates.append(update)
        return Answer.json(200, {"ok": True, "channel": channel, "ts": ts, "text": update.text})

    @staticmethod
    def _check(document: dict[str, Any]) -> str | None:
        text = str(document.get("text") or "")
        blocks = document.get("blocks") or []
        if not text and not blocks:
            return "no_text"
        if len(text) > MAX_TEXT:
            return "msg_too_long"
        if len(blocks) > MAX_BLOCKS:
            return "invalid_blocks"
        return None

    def _keep(self, mode: str, channel: str, document: dict[str, Any]) -> SlackMessage:
        message = SlackMessage(
            mode,
            channel,
            str(document.get("text") or ""),
            list(document.get("blocks") or []),
            self._ts(),
            str(document["thread_ts"]) if document.get("thread_ts") else None,
        )
        with self._messages_lock:
            self.messages.append(message)
        return message


@dataclass(frozen=True)
class Person:
    """Who presses, as Slack names them in a payload."""

    id: str = "U0FOREWARN1"
    username: str = "alice"
    name: str = "Alice"


def button_of(message: SlackMessage, action: str) -> dict[str, Any]:
    """The first button of ``message`` whose action_id starts with ``action`` (``claim_vm``)
    or whose text is ``action`` ("Claim sql-02")."""
    for block in message.blocks:
        for element in block.get("elements") or []:
            if element.get("type") != "button":
                continue
            action_id, text = str(element.get("action_id", "")), element["text"]["text"]
            if action_id.split(":", 1)[0] == action or text == action:
                return {**element, "block_id": block.get("block_id", "")}
    raise LookupError(f"no button {action!r} in the message")


def press_body(
    message: SlackMessage, button: dict[str, Any], person: Person, at: float | None = None
) -> bytes:
    """The form body Slack posts when ``person`` presses ``button`` on ``message``."""
    now = time.time() if at is None else at
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {
            "id": person.id,
            "username": person.username,
            "name": person.name,
            "team_id": "T0FOREWARN",
        },
        "api_app_id": "A0FOREWARN",
        "token": "verification-token-unused",  # deprecated by Slack; forewarn never reads it
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": False,
        },
        "trigger_id": f"{int(now)}.0000000000.forewarn",
        "team": {"id": "T0FOREWARN", "domain": "forewarn-standin"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": message.channel, "name": "maintenance"},
        "message": {
            "type": "message",
            "subtype": "bot_message",
            "text": message.text,
            "ts": message.ts,
            "bot_id": "B0FOREWARN",
            "blocks": message.blocks,
        },
        "state": {"values": {}},
        "response_url": "https://hooks.slack.com/actions/T0FOREWARN/1/standin",
        "actions": [
            {
                "action_id": button["action_id"],
                "block_id": button.get("block_id", ""),
                "text": button["text"],
                "value": button.get("value", ""),
                "style": button.get("style"),
                "type": "button",
                "action_ts": f"{now:.6f}",
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode("utf-8")


def signed_headers(
    body: bytes, secret: str = SIGNING_SECRET, at: float | None = None
) -> dict[str, str]:
    timestamp = str(int(time.time() if at is None else at))
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        HEADER_TIMESTAMP: timestamp,
        HEADER_SIGNATURE: signature(secret, timestamp, body),
    }


def press(
    app_base: str,
    message: SlackMessage,
    action: str,
    person: Person | None = None,
    secret: str = SIGNING_SECRET,
) -> requests.Response:
    """Press a button of ``message`` as Slack would: a signed POST to the app's route."""
    body = press_body(message, button_of(message, action), person or Person())
    return requests.post(
        app_base.rstrip("/") + INTERACTIVITY_PATH,
        data=body,
        headers=signed_headers(body, secret),
        timeout=10,
    )
