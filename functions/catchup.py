"""Timer, hourly: notices the webhook never brought, found in Log Analytics and sent on.

Without a workspace it reads Resource Graph's planned-maintenance events instead; off
(returns at once) when Resource Graph is off too. A failed or partial query is a note in the
log, not a failed run: the next hour starts from the same checkpoint.
"""

from __future__ import annotations

import logging
import os
from functools import cache
from typing import TYPE_CHECKING

import azure.functions as func

from shared import names

if TYPE_CHECKING:
    from shared.loganalytics.catchup import CatchUp

# Seven minutes past each hour: clear of the top of the hour when other timers fire.
SCHEDULE = "0 7 * * * *"

bp = func.Blueprint()
log = logging.getLogger("forewarn.catchup")


@cache
def _catch_up() -> CatchUp | None:
    # Built once per worker process: the query client keeps its connection and token.
    # Imported here, at the timer's first run, not with function_app: every worker's start
    # imports the app, and only this timer reads Log Analytics.
    from shared.loganalytics.catchup import CatchUp

    return CatchUp.from_settings(os.environ)


@bp.function_name(names.FUNCTION_CATCHUP)
@bp.timer_trigger(arg_name="timer", schedule=SCHEDULE, run_on_startup=False, use_monitor=True)
def catch_up(timer: func.TimerRequest) -> None:
    runner = _catch_up()
    if runner is None:
        return
    report = runner.run()
    log.info(
        "catch-up %s..%s: %d found, %d missing, %d queued, checkpoint %s; %s",
        report.since,
        report.until,
        len(report.findings),
        len(report.missing),
        len(report.queued),
        "moved" if report.checkpoint_advanced else "kept",
        "; ".join(report.notes) or "no notes",
    )
