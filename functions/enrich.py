"""Queue trigger on ``events``: one maintenance event in, one enriched event out on ``enriched``."""

from __future__ import annotations

import os
from functools import cache

import azure.functions as func

from shared import names, warmup
from shared.enrich.stage import EnrichStage
from shared.storage import decode_queue_body

bp = func.Blueprint()


@cache
def _stage() -> EnrichStage:
    # Built once per worker process: the ARM session, its token buckets and the storage
    # clients outlive one invocation (pacing only works if it remembers).
    return EnrichStage.from_settings(os.environ)


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
