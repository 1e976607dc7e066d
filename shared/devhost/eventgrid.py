"""The Functions host's Event Grid webhook, served by the local host for Event Grid triggers.

Azure's host takes Event Grid's deliveries at ``POST /runtime/webhooks/eventgrid?functionName=
NAME`` (with its ``eventgrid_extension`` system key, which this host has not: it is loopback
only). It answers the subscription's validation handshake itself (``aeg-event-type:
SubscriptionValidation``: the ``validationCode`` echoed as ``validationResponse``) and calls the
function once per event of a ``Notification`` (an array, Event Grid schema). A function that
raises fails the delivery, and Event Grid delivers it again later: here, a 500.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import azure.functions as func

PATH: Final = "runtime/webhooks/eventgrid"
log = logging.getLogger("forewarn.devhost")


def _event(item: Mapping[str, Any]) -> func.EventGridEvent:
    moment = item.get("eventTime")
    when = None
    if isinstance(moment, str) and moment:
        # Event Grid writes 7 fractional digits; fromisoformat takes at most 6.
        head, dot, tail = moment.rstrip("Z").partition(".")
        when = datetime.fromisoformat(head + (dot + tail[:6] if dot else "") + "+00:00")
    return func.EventGridEvent(
        id=str(item.get("id", "")),
        data=item.get("data") or {},
        topic=str(item.get("topic", "")),
        subject=str(item.get("subject", "")),
        event_type=str(item.get("eventType", "")),
        event_time=when,
        data_version=str(item.get("dataVersion", "")),
    )


def answer(function: Any, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
    """(status, JSON body) for one delivery to ``function``."""
    kind = {k.lower(): v for k, v in headers.items()}.get("aeg-event-type", "")
    try:
        events = json.loads(body)
    except ValueError:
        return 400, {"error": "invalid_json"}
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        return 400, {"error": "expected_an_array_of_events"}
    if kind == "SubscriptionValidation":
        code = (events[0].get("data") or {}).get("validationCode") if events else None
        return (200, {"validationResponse": code}) if code else (400, {"error": "no_code"})
    if kind != "Notification":
        return 400, {"error": "unknown_aeg_event_type"}
    name = function.get_trigger().name
    for item in events:
        try:
            function.get_user_function()(**{name: _event(item)})
        except Exception:
            log.exception("function %s failed", function.get_function_name())
            return 500, {"error": "internal_error"}
    return 202, {}
