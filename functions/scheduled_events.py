"""``POST /api/scheduled-events`` (the forwarder's posts) and the Event Grid trigger for
Azure's own Scheduled Events (``ScheduledEventEmitted``, when a VM publishes them; no agent)."""

from __future__ import annotations

import json
import logging
import os
from functools import cache

import azure.functions as func

from shared import names
from shared.scheduled import InvalidPostError
from shared.scheduled.intake import ScheduledEventsIntake

bp = func.Blueprint()
log = logging.getLogger("forewarn.scheduled")


@cache
def _intake() -> ScheduledEventsIntake:
    return ScheduledEventsIntake.from_settings(os.environ)


@bp.function_name(names.FUNCTION_SCHEDULED_EVENTS)
# ANONYMOUS to the platform: each post is signed with the app's own scheduled-events key
# (FOREWARN_SCHEDULED_EVENTS_KEY), which opens this route only, as the alerts key opens alerts.
@bp.route(route=names.ROUTE_SCHEDULED_EVENTS, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def scheduled_events(req: func.HttpRequest) -> func.HttpResponse:
    response = _intake().handle(req.get_body(), dict(req.headers))
    return func.HttpResponse(
        json.dumps(response.body), status_code=response.status, mimetype="application/json"
    )


@bp.function_name(names.FUNCTION_SCHEDULED_EVENTS_EVENTGRID)
@bp.event_grid_trigger(arg_name="event")
def scheduled_events_eventgrid(event: func.EventGridEvent) -> None:
    document = {
        "id": event.id,
        "subject": event.subject,
        "eventType": event.event_type,
        "eventTime": event.event_time.isoformat() if event.event_time else None,
        "data": event.get_json(),
    }
    try:
        _intake().take_event_grid(document)
    except InvalidPostError as error:
        # Not ours to read: Event Grid would retry it for a day to the same end.
        log.warning("Event Grid event %s dropped: %s", event.id, error)
    # A StorageError propagates: the function fails and Event Grid delivers the event again.
