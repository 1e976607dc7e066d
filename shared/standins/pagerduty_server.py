"""A stand-in PagerDuty Events API v2 (``POST /v2/enqueue``), shaped on PagerDuty's public docs
(developer-docs, events-API-v2/01-Overview and 02-Trigger-Events).

It validates an event as PagerDuty does: ``routing_key`` of 32 characters (and here: the one
integration it knows), ``event_action`` one of trigger, acknowledge, resolve; a trigger needs
``payload.summary`` (at most 1024 characters), ``payload.source`` and ``payload.severity``
(critical, error, warning, info); ``dedup_key`` at most 255 characters and required for
acknowledge and resolve. A valid event gets ``202 {"status": "success", "message": "Event
processed", "dedup_key": …}``; an invalid one ``400 {"status": "invalid event", "message":
"Event object is invalid", "errors": [...]}``. ``script.fail(1, status=429)`` answers as the
rate limit does.

Alerts follow the documented de-duplication: a trigger with the ``dedup_key`` of an open alert
is added to that alert (``triggers`` counts them; no new page), a resolve closes it, a trigger
after that opens a new alert, and a resolve for no open alert is dropped.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from typing import Any

from shared.standins.stand_in import Answer, Failure, Recorded, StandIn

ROUTING_KEY = "f0rewarnstandin0pagerduty0000key"  # 32 characters, as PagerDuty's are
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255


@dataclass
class Alert:
    dedup_key: str
    summary: str
    severity: str
    custom_details: Any
    status: str = "triggered"  # then "acknowledged" or "resolved"
    triggers: int = 1  # trigger events merged into this alert (de-duplicated)


def _invalid(errors: list[str]) -> Answer:
    return Answer.json(
        400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
    )


def _problems(event: Any, routing_key: str) -> list[str]:
    if not isinstance(event, dict):
        return ["Event object is not a JSON object"]
    errors: list[str] = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    elif key != routing_key:
        errors.append("'routing_key' does not name an integration")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > MAX_DEDUP_KEY):
        errors.append(f"'dedup_key' must be a string of at most {MAX_DEDUP_KEY} characters")
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append("'dedup_key' is missing or blank")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            return [*errors, "'payload' is missing or not an object"]
        for field in ("summary", "source"):
            value = payload.get(field)
            if not isinstance(value, str) or not value.strip():
                errors.append(f"'payload.{field}' is missing or blank")
        summary = payload.get("summary")
        if isinstance(summary, str) and len(summary) > MAX_SUMMARY:
            errors.append(f"'payload.summary' is longer than {MAX_SUMMARY} characters")
        if payload.get("severity") not in SEVERITIES:
            errors.append(
                "'payload.severity' is invalid (must be one of: critical, error, warning, info)"
            )
    return errors


class PagerDutyStandIn(StandIn):
    name = "pagerduty"

    def __init__(self, routing_key: str = ROUTING_KEY) -> None:
        super().__init__()
        self.routing_key = routing_key
        self.events: list[dict[str, Any]] = []  # every accepted event, in order
        self.alerts: list[Alert] = []  # every alert ever opened, in order
        self._alerts_lock = threading.Lock()

    @property
    def api_base(self) -> str:
        return self.base_url

    def forget(self) -> None:
        with self._alerts_lock:
            self.events.clear()
            self.alerts.clear()

    def open_alert(self, dedup_key: str) -> Alert | None:
        with self._alerts_lock:
            return next(
                (a for a in self.alerts if a.dedup_key == dedup_key and a.status != "resolved"),
                None,
            )

    def triggered(self) -> list[dict[str, Any]]:
        """Accepted trigger events, in order."""
        with self._alerts_lock:
            return [e for e in self.events if e.get("event_action") == "trigger"]

    def resolved(self) -> list[dict[str, Any]]:
        with self._alerts_lock:
            return [e for e in self.events if e.get("event_action") == "resolve"]

    def fail(self, failure: Failure, request: Recorded) -> Answer:
        status = failure.status or 500
        headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
        if status == 429:
            return Answer.json(
                429,
                {"status": "throttle event", "message": "Too many events, retry later"},
                **headers,
            )
        return Answer.json(status, {"status": "error", "message": "Scripted failure"}, **headers)

    def answer(self, request: Recorded) -> Answer:
        if request.method != "POST" or request.path != "/v2/enqueue":
            return Answer.json(404, {"status": "not found", "message": "Not Found"})
        try:
            event = request.json()
        except ValueError:
            return _invalid(["Event object is not valid JSON"])
        errors = _problems(event, self.routing_key)
        if errors:
            return _invalid(errors)
        dedup = str(event.get("dedup_key") or uuid.uuid4().hex)
        with self._alerts_lock:
            self.events.append(event)
            self._apply(str(event["event_action"]), dedup, event.get("payload") or {})
        return Answer.json(
            202, {"status": "success", "message": "Event processed", "dedup_key": dedup}
        )

    def _apply(self, action: str, dedup: str, payload: dict[str, Any]) -> None:
        current = next(
            (a for a in self.alerts if a.dedup_key == dedup and a.status != "resolved"), None
        )
        if action == "trigger":
            if current is not None:
                current.triggers += 1  # de-duplicated onto the open alert
                return
            self.alerts.append(
                Alert(
                    dedup,
                    str(payload.get("summary")),
                    str(payload.get("severity")),
                    payload.get("custom_details"),
                )
            )
        elif current is not None:  # acknowledge or resolve; dropped when nothing is open
            current.status = "resolved" if action == "resolve" else "acknowledged"
