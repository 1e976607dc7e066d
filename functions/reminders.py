"""Timer: reminders before the self-service window closes and the scheduled window opens
(hourly by default, ``FOREWARN_REMINDER_SCHEDULE``; offsets in ``FOREWARN_REMINDER_OFFSETS``)."""

from __future__ import annotations

import os

import azure.functions as func

from functions.wave import wave_runner
from shared import names
from shared.routing.offsets import reminder_offsets_from
from shared.timeutil import utc_now

bp = func.Blueprint()


@bp.function_name(names.FUNCTION_REMINDERS)
@bp.timer_trigger(
    arg_name="timer",
    schedule=os.environ.get(names.SETTING_REMINDER_SCHEDULE) or names.DEFAULT_REMINDER_SCHEDULE,
    run_on_startup=False,
    use_monitor=True,
)
def remind_wave(timer: func.TimerRequest) -> None:
    # Each VM is read again before its reminder; a failed run is retried by the next one,
    # which still finds the reminder due until its deadline.
    wave_runner().remind(utc_now(), reminder_offsets_from(os.environ))
