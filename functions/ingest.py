"""HTTP triggers: ``POST /api/alerts`` (Action Group webhooks) and ``GET /api/health``."""

from __future__ import annotations

import json
import os
from functools import cache

import azure.functions as func

from shared import names
from shared.health import check_health
from shared.ingest import AlertIngestor, IngestRequest

bp = func.Blueprint()


@cache
def _ingestor() -> AlertIngestor:
    # Built once per worker process: clients keep their connections between invocations.
    return AlertIngestor.from_settings(os.environ)


@bp.function_name(names.FUNCTION_INGEST)
# ANONYMOUS to the platform: the app checks its own alerts key (FOREWARN_ALERTS_KEY), which
# opens this route only; a platform function or host key would open more, and cannot be put
# into the Action Group's URI by the deployment that creates the app without a race.
@bp.route(route=names.ROUTE_ALERTS, methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
def ingest_alert(req: func.HttpRequest) -> func.HttpResponse:
    response = _ingestor().handle(
        IngestRequest(body=req.get_body(), headers=dict(req.headers), params=dict(req.params))
    )
    return func.HttpResponse(
        json.dumps(response.body),
        status_code=response.status,
        headers=response.headers,
        mimetype="application/json",
    )


@bp.function_name(names.FUNCTION_HEALTH)
@bp.route(route=names.ROUTE_HEALTH, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def health(req: func.HttpRequest) -> func.HttpResponse:
    report = check_health(os.environ)
    return func.HttpResponse(
        json.dumps(report.to_json()),
        status_code=200 if report.healthy else 503,
        mimetype="application/json",
    )
