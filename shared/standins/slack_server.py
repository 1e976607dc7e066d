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
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any

from shared.standins.stand_in import Answer, Failure, Recorded, StandIn

WEBHOOK_PATH = "/services/T0FOREWARN/B0FOREWARN/fakeWebhookSecret0000"
BOT_TOKEN = "xoxb-0000000000-forewarn-test-token"
CHANNELS = ("C0FOREWARN1", "C0FOREWARN2")
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
