"""Slack: an incoming webhook, or a bot token with ``chat.postMessage``.

Receiver options (one of the two modes):
    webhook_url_setting   the setting holding the incoming-webhook URL (the URL is the secret)
    token_setting         the setting holding a bot token (``xoxb-…``); then ``targets`` are
                          channel ids and each post's ``ts`` is returned for later updates
    api_base              Web API base URL (default https://slack.com/api; tests point it at
                          a local stand-in)
    timeout               seconds (default 10)

Slack's Web API answers HTTP 200 with ``{"ok": false, "error": …}`` for most failures, so the
error name is classified here: rate limits and Slack-side errors retry, everything else
(``invalid_auth``, ``channel_not_found``, ``msg_too_long``, …) is permanent. Incoming webhooks use
HTTP statuses (400 ``invalid_payload``, 403 ``action_prohibited``, 404 ``channel_not_found``,
410 ``channel_is_archived``, 429, 500 ``rollup_error``) and go through the common rule.

A rendered message may carry follow-ups in ``payload["thread"]`` (the details under a short
top message). With a bot token each is posted as a reply in the top message's thread
(``thread_ts``); an incoming webhook returns no ``ts``, so there they follow as plain messages.
The top message is the delivery: once it is posted, a failed follow-up is reported in the
result's reason but not retried, because a retry would post the top message twice.

A later message of a wave (``meta["follows"]``, shared/delivery/threads.py) goes into the first
message's thread instead of starting a conversation: the top message and its details are
replies under the original's ``ts``, and the original is updated (``chat.update``) to what it
said plus one line naming the latest news. An update Slack refuses is reported like a refused
reply. Through an incoming webhook, or in a channel the original never reached, the message is
posted as before with a first line naming the original.

Each part is reported to the stage as it is posted (``Progress``: ``C…#top`` with its ts, then
``C…#reply1``…): a job taken up again after a crash skips the parts already posted, and its
replies go under the top message the earlier try posted, not under a second one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

from shared.channels.base import (
    ChannelConfigError,
    ChannelLimits,
    OversizeMessageError,
    Progress,
    option,
    timeout_of,
)
from shared.channels.following import follows_line, slack_escaped, update_line
from shared.channels.http import HttpChannelSender, post, result_for_response
from shared.channels.retry import parse_retry_after
from shared.delivery.results import DeliveryResult, combine
from shared.delivery.threads import ThreadParent, parent_of
from shared.models import DeliveryJob, Receiver
from shared.render.text import ReaderClock

DEFAULT_API_BASE = "https://slack.com/api"

# ``ok: false`` errors that a later attempt may not see again.
TRANSIENT_ERRORS = frozenset(
    {
        "ratelimited",
        "rate_limited",
        "internal_error",
        "fatal_error",
        "service_unavailable",
        "request_timeout",
    }
)


class SlackSender(HttpChannelSender):
    channel = "slack"
    limits = ChannelLimits(
        max_text_chars=40_000,
        max_blocks=50,
        max_section_chars=3_000,
        max_subject_chars=150,  # header block
        notes=(
            "~1 message/s per channel",
            "msg_blocks_too_long near 13k characters of block text",
        ),
    )

    def send(self, job: DeliveryJob) -> DeliveryResult:
        return self.send_reporting(job, Progress())

    def send_reporting(self, job: DeliveryJob, progress: Progress) -> DeliveryResult:
        try:
            timeout = timeout_of(job.receiver, self._environ)
            message = self._message(job)
            replies = self._replies(job)
            parent = parent_of(job)
            # The receiver's zone, as its message says every other moment (following.py).
            clock = ReaderClock.for_receiver(job.receiver, self._clock())
            webhook_url = option(job.receiver, "webhook_url", self._environ)
            if webhook_url:
                shown = _naming(message, parent, clock) if parent else message
                return _parts(
                    progress,
                    "webhook",
                    lambda: self._post_webhook(webhook_url, job, shown, timeout),
                    [
                        partial(self._post_webhook, webhook_url, job, reply, timeout)
                        for reply in replies
                    ],
                )
            token = option(job.receiver, "token", self._environ)
            if not token:
                raise ChannelConfigError(
                    f"receiver {job.receiver.name!r}: set webhook_url_setting or token_setting"
                )
            if not job.receiver.targets:
                raise ChannelConfigError(f"receiver {job.receiver.name!r}: no channel ids")
        except (ChannelConfigError, OversizeMessageError) as error:
            return DeliveryResult.permanent(None, str(error))
        api_base = option(job.receiver, "api_base", self._environ, default=DEFAULT_API_BASE)
        api = (api_base or DEFAULT_API_BASE).rstrip("/")
        originals = _original_ts(parent)
        results = []
        for channel in job.receiver.targets:
            if parent is not None and channel in originals:
                result = self._follow(
                    api,
                    token,
                    channel,
                    message,
                    replies,
                    parent,
                    job.message.meta.get("notice_type"),
                    job.message.subject,
                    clock,
                    timeout,
                    progress,
                )
            else:
                shown = _naming(message, parent, clock) if parent else message
                result = self._post_thread(
                    f"{api}/chat.postMessage", token, channel, shown, replies, timeout, progress
                )
            if result.delivered:
                progress.reached(channel, result.reference)
            results.append((channel, result))
        combined = combine(results)
        # combine() keeps no reason for delivered targets; a missing reply is still worth saying.
        unposted = [
            result.reason
            for _, result in results
            if "thread reply" in result.reason or "update of" in result.reason
        ]
        if combined.delivered and unposted:
            return replace(combined, reason=f"{combined.reason}; {unposted[0]}"[:300])
        return combined

    def _post_thread(
        self,
        url: str,
        token: str,
        channel: str,
        message: dict[str, Any],
        replies: list[dict[str, Any]],
        timeout: float,
        progress: Progress,
    ) -> DeliveryResult:
        """The top message, then each reply in its thread (the top's own, also when an earlier
        try posted it)."""
        top: dict[str, str] = {}

        def post_top() -> DeliveryResult:
            return self._post_message(url, token, channel, message, timeout)

        def post_reply(reply: dict[str, Any]) -> DeliveryResult:
            ts = top.get("reference", "").rpartition("/")[2]
            return self._post_message(
                url, token, channel, {**reply, "thread_ts": ts} if ts else reply, timeout
            )

        return _parts(
            progress,
            channel,
            post_top,
            [partial(post_reply, reply) for reply in replies],
            top,
        )

    def _follow(
        self,
        api: str,
        token: str,
        channel: str,
        message: dict[str, Any],
        replies: list[dict[str, Any]],
        parent: ThreadParent,
        news: str | None,
        subject: str,
        clock: ReaderClock,
        timeout: float,
        progress: Progress,
    ) -> DeliveryResult:
        """Every part of the message as a reply under the original, then the original
        updated; the first reply is the delivery (a refused one is retried like a post)."""
        ts = _original_ts(parent)[channel]
        url = f"{api}/chat.postMessage"

        def in_thread(part: dict[str, Any]) -> DeliveryResult:
            return self._post_message(url, token, channel, {**part, "thread_ts": ts}, timeout)

        result = _parts(
            progress,
            channel,
            lambda: in_thread(message),
            [partial(in_thread, reply) for reply in replies],
        )
        if not result.delivered:
            return result
        updated = self._post_message(
            f"{api}/chat.update",
            token,
            channel,
            _updated_original(parent, news, subject, clock.local(clock.now), ts),
            timeout,
        )
        if not updated.delivered:
            reason = f"{result.reason}; update of the original not made: {updated.reason}"
            return replace(result, reason=reason[:300])
        return result

    def update(
        self,
        receiver: Receiver,
        channel: str,
        ts: str,
        message: dict[str, Any],
        timeout: float | None = None,
    ) -> DeliveryResult:
        """``chat.update`` of the message ``ts`` in ``channel`` with the receiver's bot token
        (a pressed button's answer, shared/slack_interactivity.py); ``timeout`` caps the
        receiver's own."""
        try:
            token = option(receiver, "token", self._environ)
            if not token:
                raise ChannelConfigError(f"receiver {receiver.name!r}: no token_setting")
            checked = self._checked(str(message.get("text") or ""), list(message["blocks"]))
            limit = timeout_of(receiver, self._environ)
        except (ChannelConfigError, OversizeMessageError) as error:
            return DeliveryResult.permanent(None, str(error))
        api_base = option(receiver, "api_base", self._environ, default=DEFAULT_API_BASE)
        url = f"{(api_base or DEFAULT_API_BASE).rstrip('/')}/chat.update"
        wait = min(limit, timeout) if timeout else limit
        return self._post_message(url, token, channel, {**checked, "ts": ts}, wait)

    def _replies(self, job: DeliveryJob) -> list[dict[str, Any]]:
        payload = job.message.payload or {}
        thread = payload.get("thread") or []
        return [
            self._checked(str(reply.get("text") or ""), list(reply.get("blocks") or []))
            for reply in thread
            if isinstance(reply, dict)
        ]

    def _message(self, job: DeliveryJob) -> dict[str, Any]:
        payload = job.message.payload or {}
        return self._checked(job.message.text, list(payload.get("blocks") or []))

    def _checked(self, text: str, blocks: list[dict[str, Any]]) -> dict[str, Any]:
        limits = self.limits
        if limits.max_text_chars is not None and len(text) > limits.max_text_chars:
            raise OversizeMessageError(
                f"Slack text is {len(text)} characters (limit {limits.max_text_chars})"
            )
        if limits.max_blocks is not None and len(blocks) > limits.max_blocks:
            raise OversizeMessageError(
                f"Slack message has {len(blocks)} blocks (limit {limits.max_blocks})"
            )
        section_limit = limits.max_section_chars or 0
        for block in blocks:
            section = block.get("text")
            if isinstance(section, dict) and len(str(section.get("text", ""))) > section_limit > 0:
                raise OversizeMessageError(
                    f"a Slack block's text exceeds {section_limit} characters"
                )
        message: dict[str, Any] = {"text": text, "unfurl_links": False, "unfurl_media": False}
        if blocks:
            message["blocks"] = blocks
        return message

    def _post_webhook(
        self, url: str, job: DeliveryJob, message: dict[str, Any], timeout: float
    ) -> DeliveryResult:
        response = post(
            self._session,
            url,
            body=json.dumps(message, ensure_ascii=False).encode("utf-8"),
            headers={"Content-Type": "application/json; charset=utf-8"},
            timeout=timeout,
        )
        if isinstance(response, DeliveryResult):
            return response
        if response.status_code == 200:
            return DeliveryResult.ok(200, targets=tuple(job.receiver.targets))
        return result_for_response(response, "Slack webhook", clock=self._clock)

    def _post_message(
        self, url: str, token: str, channel: str, message: dict[str, Any], timeout: float
    ) -> DeliveryResult:
        response = post(
            self._session,
            url,
            body=json.dumps({"channel": channel, **message}, ensure_ascii=False).encode("utf-8"),
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Authorization": f"Bearer {token}",
            },
            timeout=timeout,
        )
        if isinstance(response, DeliveryResult):
            return response
        if response.status_code != 200:
            return result_for_response(response, "Slack API", clock=self._clock)
        try:
            data: Any = response.json()
        except ValueError:
            return DeliveryResult.retry(200, "Slack API answered with something other than JSON")
        if not isinstance(data, dict):
            return DeliveryResult.retry(200, "Slack API answered with an unexpected document")
        if data.get("ok") is True:
            ts = str(data.get("ts", ""))
            return DeliveryResult.ok(
                200, reference=f"{data.get('channel', channel)}/{ts}", targets=(channel,)
            )
        error = str(data.get("error", "unknown_error"))[:60]
        reason = f"Slack API error {error}"
        if error in TRANSIENT_ERRORS:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), clock=self._clock)
            return DeliveryResult.retry(200, reason, retry_after=retry_after)
        return DeliveryResult.permanent(200, reason)


def _original_ts(parent: ThreadParent | None) -> dict[str, str]:
    """The original's ``ts`` per channel, from its reference (``C…/ts`` per channel)."""
    if parent is None or parent.channel != "slack":
        return {}
    found = {}
    for part in parent.reference.split():
        channel, _, ts = part.rpartition("/")
        if channel and ts:
            found[channel] = ts
    return found


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": slack_escaped(text)}]}


def _naming(message: dict[str, Any], parent: ThreadParent, clock: ReaderClock) -> dict[str, Any]:
    """The message with a first line naming the original (it cannot be threaded)."""
    line = follows_line(parent, clock)
    blocks = [_context(line), *list(message.get("blocks") or [])][: SlackSender.limits.max_blocks]
    return {**message, "text": f"{line}\n{message.get('text') or ''}", "blocks": blocks}


def _updated_original(
    parent: ThreadParent, news: str | None, subject: str, when: str, ts: str
) -> dict[str, Any]:
    """``chat.update`` of the original: what it said, and a last line about the latest news."""
    kept = parent.message or {}
    blocks = list(kept.get("blocks") or [])
    limit = SlackSender.limits.max_blocks or 50
    line = update_line(news, subject, when)
    return {
        "ts": ts,
        "text": str(kept.get("text") or parent.subject),
        "blocks": [*blocks[: limit - 1], _context(line)],
    }


def _parts(
    progress: Progress,
    target: str,
    post_top: Callable[[], DeliveryResult],
    post_replies: list[Callable[[], DeliveryResult]],
    top_seen: dict[str, str] | None = None,
) -> DeliveryResult:
    """The top message, then each reply, each skipped when ``progress`` says an earlier try
    posted it and reported as soon as it is posted. Once the top message is delivered a refused
    reply is named in the reason, never retried (the retry would post the top message again).
    ``top_seen`` receives the top message's reference, for the replies to thread under."""
    key = f"{target}#top"
    earlier = progress.done(key)
    if earlier is not None:
        top = DeliveryResult.ok(200, reference=earlier or None, targets=(target,))
    else:
        top = post_top()
        if not top.delivered:
            return top
        progress.reached(key, top.reference)
    if top_seen is not None:
        top_seen["reference"] = top.reference or ""
    failed = []
    for number, post_reply in enumerate(post_replies, start=1):
        reply_key = f"{target}#reply{number}"
        if progress.done(reply_key) is not None:
            continue
        answer = post_reply()
        if answer.delivered:
            progress.reached(reply_key)
        else:
            failed.append(answer.reason)
    return _with_reply_failures(top, failed)


def _with_reply_failures(result: DeliveryResult, failed: list[str]) -> DeliveryResult:
    if not failed:
        return result
    reason = f"{result.reason}; {len(failed)} thread reply not posted: {failed[0]}"
    return replace(result, reason=reason[:300])
