"""Timer: the sweep (every 6 h by default, ``FOREWARN_SWEEP_SCHEDULE``).

Finds VMs added to a wave mid-way, rescheduled, completed or deleted, and routes a notice for
each through the routing file, as the route stage does for Azure's own notices. Then deletes
each table's expired rows (shared/retention.py).
"""

from __future__ import annotations

import os

import azure.functions as func

from functions import enrich
from functions.wave import wave_runner
from shared import names
from shared.retention import RetentionSettingError, RetentionSettings, tidy
from shared.slack_interactivity import forget_handled
from shared.storage import StorageError
from shared.telemetry import get_logger
from shared.timeutil import utc_now

bp = func.Blueprint()
log = get_logger(__name__)


@bp.function_name(names.FUNCTION_SWEEP)
@bp.timer_trigger(
    arg_name="timer",
    # Read when the app is indexed (app settings are the worker's environment), so that the
    # local host, which takes a schedule literally, runs the same one.
    schedule=os.environ.get(names.SETTING_SWEEP_SCHEDULE) or names.DEFAULT_SWEEP_SCHEDULE,
    run_on_startup=False,
    use_monitor=True,
)
def sweep_wave(timer: func.TimerRequest) -> None:
    # Any error raises: the run is logged as failed and the next one sweeps again; records
    # are written only after the notices were queued, so nothing is lost in between.
    # Imported here: only the timers need the runner, and every worker's start imports
    # function_app (shared/names.py holds the schedule the binding reads).
    from shared.wave.runner import watched_subscriptions

    runner = wave_runner()
    known = list(runner.records.all())  # read once: for the subscriptions and the sweep
    subscriptions = watched_subscriptions(known, os.environ)
    now = utc_now()
    if subscriptions:
        runner.sweep(subscriptions, now, known=known)
    else:
        log.info("sweep: no watched subscription yet")
    storage = enrich._stage().storage
    try:
        # Slack presses handled more than a day ago can no longer come again (their
        # timestamps are stale): their marks go, so that table does not grow forever.
        forget_handled(storage.table(names.TABLE_SLACK_REQUESTS), now)
    except StorageError as error:
        log.warning("sweep: the handled Slack presses were not tidied: %s", error)
    try:
        settings = RetentionSettings.from_settings(os.environ)
    except RetentionSettingError as error:
        # Nothing is deleted by a setting nobody meant: the rows wait for a good one.
        log.warning("sweep: no expired rows deleted: %s", error)
        return
    # Every table's expired rows, a bounded batch each (shared/retention.py).
    tidy(storage.table, storage.payloads, now, settings)
