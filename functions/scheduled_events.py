"""HTTP trigger: ``POST /api/scheduled-events``, the Scheduled Events forwarder's posts."""

from __future__ import annotations

import json
import os
from functools import cache

import azure.functions as func

from shared import names
from shared.scheduled.intake import ScheduledEventsIntake

bp = func.Blueprint()


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
