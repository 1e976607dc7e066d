"""HTTP trigger: ``GET|POST /api/actions/{token}``, the signed action links in messages."""

from __future__ import annotations

import os
from functools import cache

import azure.functions as func

from shared import names
from shared.actions import ActionService

bp = func.Blueprint()


@cache
def _service() -> ActionService:
    return ActionService.from_settings(os.environ)


@bp.function_name(names.FUNCTION_ACTIONS)
# ANONYMOUS to the platform: the link's own signature (FOREWARN_ACTION_LINK_KEY) is the check,
# and a person clicking a link in a mail has no function key.
@bp.route(route=names.ROUTE_ACTIONS, methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def action_link(req: func.HttpRequest) -> func.HttpResponse:
    page = _service().handle(
        req.method,
        req.route_params.get("token", ""),
        req.get_body(),
        headers=dict(req.headers),  # who signed in (App Service authentication), for Start
    )
    return func.HttpResponse(
        page.html(),
        status_code=page.status,
        headers=page.headers,
        mimetype="text/html",
        charset="utf-8",
    )
