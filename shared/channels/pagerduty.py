"""PagerDuty Events API v2: each rendered event POSTed to ``/v2/enqueue`` with the routing key.

Receiver options:
    routing_key_setting  the setting that holds the integration's routing key (required;
                         a Key Vault reference in Azure, never the key in the routing file)
    api_base             default https://events.pagerduty.com (the stand-in's URL locally)
    timeout              seconds per request (default 10)

Answers, as PagerDuty documents them (developer-docs, events-API-v2/01-Overview, "Response
Codes & Retry Logic"): 202 accepted; 400 the event is invalid, not retried (dead-lettered
with PagerDuty's own ``message`` and ``errors``); 429 too many events, retried after a while;
5xx and network errors retried. ``shared.channels.retry`` holds that rule for every channel;
this module only reads PagerDuty's error body.

Each event is one part (``dedup_key`` and action) reported as it is accepted, so a retry after
a 429 half-way sends only the events not yet accepted; the first answer worth a retry ends the
try (the rest would be refused as well). PagerDuty itself drops a second trigger
with the same ``dedup_key`` onto the open alert, which covers a send repeated across a crash.

Why not the ``pagerduty`` package: docs/decisions.md (it adds ~0.2 s to a cold start and
retries with sleeps inside the call, where the delivery stage re-enqueues instead).
"""

from __future__ import annotations

import json
from typing import Any

from shared.channels.base import (
    ChannelConfigError,
    ChannelLimits,
    Progress,
    option,
    timeout_of,
)
from shared.channels.http import HttpChannelSender, post, result_for_response
from shared.channels.retry import result_for_status
from shared.delivery.results import DeliveryResult, combine
from shared.models import DeliveryJob
from shared.render.pagerduty import LIMITS as RENDERED_LIMITS

DEFAULT_API_BASE = "https://events.pagerduty.com"
ENQUEUE_PATH = "/v2/enqueue"
MAX_ERROR_CHARS = 300  # PagerDuty's message and errors, kept in the dead-letter reason


def part_of(event: dict[str, Any]) -> str:
    """What names one event among a job's parts: its action and dedup key."""
    return f"{event.get('event_action')}:{event.get('dedup_key')}"


def _pagerduty_errors(body: bytes) -> str:
    """PagerDuty's own words for a 400 (``{"status", "message", "errors": [...]}``). They
    describe the event's fields, never echo the routing key."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ""
    if not isinstance(data, dict):
        return ""
    message = str(data.get("message") or "").strip()
    errors = data.get("errors")
    listed = [str(item) for item in errors] if isinstance(errors, list) else []
    text = "; ".join(part for part in [message, *listed] if part)
    return text[:MAX_ERROR_CHARS]


class PagerDutySender(HttpChannelSender):
    channel = "pagerduty"
    limits = ChannelLimits(
        max_text_chars=RENDERED_LIMITS.summary_chars,
        max_payload_bytes=RENDERED_LIMITS.payload_bytes,
        notes=("~120 events a minute per routing key; 429 beyond it",),
    )

    def send(self, job: DeliveryJob) -> DeliveryResult:
        return self.send_reporting(job, Progress())

    def send_reporting(self, job: DeliveryJob, progress: Progress) -> DeliveryResult:
        receiver = job.receiver
        try:
            key = option(receiver, "routing_key", self._environ, required=True) or ""
            timeout = timeout_of(receiver, self._environ)
            base = option(receiver, "api_base", self._environ, default=DEFAULT_API_BASE) or ""
            if not base.startswith(("https://", "http://")):
                raise ChannelConfigError(f"receiver {receiver.name!r}: api_base is not a URL")
            events = (job.message.payload or {}).get("events")
            if not isinstance(events, list):
                raise ChannelConfigError("PagerDuty message has no events to send")
        except ChannelConfigError as error:
            return DeliveryResult.permanent(None, str(error))
        url = base.rstrip("/") + ENQUEUE_PATH
        # Results are labelled "event 2 of 3", not by dedup key: combine() masks anything with
        # many digits as if it were a phone number.
        results: list[tuple[str, DeliveryResult]] = []
        for index, event in enumerate(events):
            label = f"{event.get('event_action')} event {index + 1} of {len(events)}"
            part = part_of(event)
            if progress.done(part) is not None:
                continue  # accepted by an earlier try
            if results and results[-1][1].outcome == "retry":
                # Rate limited or PagerDuty failing: the rest would be refused too, and more
                # requests now only deepen a rate limit. They go with the retry.
                results.append((label, results[-1][1]))
                continue
            result = self._send_one(url, {**event, "routing_key": key}, timeout)
            if result.delivered:
                progress.reached(part)
            results.append((label, result))
        if not results:
            return DeliveryResult.ok(None, reason="nothing left to send")
        return combine(results)

    def _send_one(self, url: str, event: dict[str, Any], timeout: float) -> DeliveryResult:
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        response = post(self._session, url, body=body, headers=headers, timeout=timeout)
        if isinstance(response, DeliveryResult):
            return response
        if response.status_code == 202 or 200 <= response.status_code <= 299:
            return DeliveryResult.ok(response.status_code)
        if response.status_code == 400:
            said = _pagerduty_errors(response.content)
            reason = "PagerDuty refused the event (HTTP 400)" + (f": {said}" if said else "")
            return result_for_status(400, reason, clock=self._clock)
        return result_for_response(response, "PagerDuty", clock=self._clock)
