"""HTTP trigger: ``POST /api/slack/interactivity``, a button pressed on a forewarn Slack message."""

from __future__ import annotations

import os
from functools import cache

import azure.functions as func

from shared import names
from shared.slack_interactivity import SlackInteractivity

bp = func.Blueprint()


@cache
def _service() -> SlackInteractivity:
    return SlackInteractivity.from_settings(os.environ)


@bp.function_name(names.FUNCTION_SLACK_INTERACTIVITY)
# ANONYMOUS to the platform: Slack cannot send a function key; every request is signed with the
# Slack app's signing secret (FOREWARN_SLACK_SIGNING_SECRET), checked before anything is read.
@bp.route(
    route=names.ROUTE_SLACK_INTERACTIVITY, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS
)
def slack_interactivity(req: func.HttpRequest) -> func.HttpResponse:
    answer = _service().handle(dict(req.headers), req.get_body())
    return func.HttpResponse(answer.text(), status_code=answer.status, mimetype="application/json")
