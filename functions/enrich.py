"""Queue trigger on ``events``: one maintenance event in, one enriched event out on ``enriched``."""

from __future__ import annotations

import os
from datetime import datetime
from functools import cache

import azure.functions as func

from shared import names, warmup
from shared.enrich.stage import EnrichStage
from shared.storage import decode_queue_body
from shared.wave.records import MaintenanceRecord

bp = func.Blueprint()


@cache
def _stage() -> EnrichStage:
    # Built once per worker process: the ARM session, its token buckets and the storage
    # clients outlive one invocation (pacing only works if it remembers).
    stage = EnrichStage.from_settings(os.environ)
    stage.resolve_ended = _resolve_ended
    return stage


def _resolve_ended(records: list[MaintenanceRecord], now: datetime) -> list[MaintenanceRecord]:
    """A notice of a new wave ended these VMs' records: their open escalations are resolved
    now, as the hourly pass (which reads live records only) would never do."""
    from shared.wave.runner import WaveRunner  # only when a wave ends a record: rare

    stage = _stage()
    runner = WaveRunner.from_settings(os.environ, stage.services, stage.storage)
    return runner.resolve_ended(records, now)


@bp.function_name(names.FUNCTION_ENRICH)
@bp.queue_trigger(
    arg_name="msg", queue_name=names.QUEUE_EVENTS, connection=names.STORAGE_CONNECTION
)
def enrich_event(msg: func.QueueMessage) -> None:
    # Transient failures (ARM throttled or down, storage unavailable) raise: the host retries
    # the message; on its last attempt the stage sends a partial result with notes instead.
    # The route and delivery stages warm up in the ARM reads' wait (once per worker; not at
    # import, where the thread would slow every worker's start: shared/warmup.py).
    warmup.start("route", "deliver")
    _stage().handle(decode_queue_body(msg.get_body()), dequeue_count=msg.dequeue_count or 1)
