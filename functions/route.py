"""Queue trigger: an enriched event in, one rendered delivery job per receiver out."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

import azure.functions as func

from shared import names, warmup
from shared.render.email import prepare as prepare_email_templates
from shared.routing.config import ConfigCache, config_path
from shared.routing.gather import EventGatherer
from shared.routing.offsets import ReminderOffsets, reminder_offsets_from
from shared.routing.silencing import SilenceGate
from shared.routing.stage import handle_enriched_message
from shared.storage import StorageServices, decode_queue_body
from shared.timeutil import utc_now
from shared.wave.actions import ClaimLinks, StartLinks
from shared.wave.claims import ClaimStore

bp = func.Blueprint()

# One per worker process: the routing file is parsed again only when its mtime or size changes.
_configs = ConfigCache()
# The email templates compile while the worker's first notice is still being enriched (the
# enrich stage's first message starts this; shared/warmup.py).
warmup.register("route", prepare_email_templates)


@dataclass(frozen=True)
class _RouteParts:
    storage: StorageServices
    gatherer: EventGatherer
    reminders: ReminderOffsets
    silences: SilenceGate
    links: ClaimLinks | None  # None without FOREWARN_PUBLIC_URL and an action link key
    claims: ClaimStore
    start_links: StartLinks | None  # None unless Start from the message is on


@cache
def _stage() -> _RouteParts:
    # Built once per worker process, like every function's clients: the settings are read (and
    # a bad one logged) once, not on every message.
    storage = StorageServices.from_settings(os.environ)
    return _RouteParts(
        storage,
        EventGatherer.from_storage(storage, os.environ),
        reminder_offsets_from(os.environ),
        SilenceGate.on_table(storage.table(names.TABLE_SILENCES)),
        ClaimLinks.from_settings(os.environ),
        ClaimStore(storage.table(names.TABLE_CLAIMS)),
        StartLinks.from_settings(os.environ),
    )


@bp.function_name(names.FUNCTION_ROUTE)
@bp.queue_trigger(
    arg_name="message", queue_name=names.QUEUE_ENRICHED, connection=names.STORAGE_CONNECTION
)
def route_event(message: func.QueueMessage) -> None:
    # The trace continues from the envelope's traceparent. Any error raises: the host retries
    # the message and, after maxDequeueCount, parks it in enriched-poison, where an operator
    # can fix the routing file (or the renderer) and replay it. A receiver whose message cannot
    # be rendered raises too, but only after the other receivers' jobs were sent.
    # A notice that skipped enrichment (Scheduled Events) starts the delivery warm-up here.
    warmup.start("deliver")
    config = _configs.get(config_path(os.environ))
    parts = _stage()
    handle_enriched_message(
        decode_queue_body(message.get_body()),
        parts.storage.courier,
        config,
        utc_now(),
        gatherer=parts.gatherer,
        reminders=parts.reminders,
        silences=parts.silences,
        links=parts.links,
        claims=parts.claims,
        start_links=parts.start_links,
    )
