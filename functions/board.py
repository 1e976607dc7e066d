"""HTTP trigger: ``GET /api/waves/{tracking_id}``, the board of a wave (shared/board.py)."""

from __future__ import annotations

import os
from functools import cache

import azure.functions as func

from shared import names
from shared.board import BoardService

bp = func.Blueprint()


@cache
def _service() -> BoardService:
    return BoardService.from_settings(os.environ)


@bp.function_name(names.FUNCTION_BOARD)
# ANONYMOUS to the platform: the page checks its own read key (FOREWARN_BOARD_READ_KEY), which
# opens this page only; in Azure, App Service authentication (Entra ID) can stand in front too.
@bp.route(route=names.ROUTE_BOARD, methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def wave_board(req: func.HttpRequest) -> func.HttpResponse:
    page = _service().handle(
        req.route_params.get("tracking_id", ""), dict(req.params), dict(req.headers)
    )
    return func.HttpResponse(
        page.body,
        status_code=page.status,
        headers=page.headers,
        mimetype="text/html",
        charset="utf-8",
    )
