"""Queue triggers ``deliver-<channel>``: one function per channel, so a slow or failing channel
never holds up another. Each hands its message to the shared delivery stage and nothing else.

The stage re-enqueues transient failures itself (with backoff and ``Retry-After``); it raises
only when storage fails, and then the host retries the message and finally poisons it.
"""

from __future__ import annotations

import os
from functools import cache

import azure.functions as func

from shared import names, warmup
from shared.channels import default_senders
from shared.delivery.stage import DeliveryStage
from shared.storage import StorageServices, decode_queue_body

bp = func.Blueprint()


def _prepare_senders() -> None:
    # Imported here, in the warm-up thread: at module level the senders would join every
    # function's cold start, ingest's included (default_senders imports them on first use).
    from shared.channels import email, sms

    sms.prepare()
    email.prepare()


# Twilio's API and the system's trust store load while the first notice is still being enriched
# (the enrich or route stage's first message starts this; shared/warmup.py).
warmup.register("deliver", _prepare_senders)


@cache
def _stage() -> DeliveryStage:
    # Built once per worker process: HTTP sessions and storage clients are reused.
    return DeliveryStage(
        StorageServices.from_settings(os.environ),
        default_senders(os.environ),
        environ=os.environ,
    )


def _deliver(msg: func.QueueMessage) -> None:
    _stage().handle(decode_queue_body(msg.get_body()), dequeue_count=msg.dequeue_count or 1)


@bp.function_name(names.FUNCTION_DELIVER["email"])
@bp.queue_trigger(
    arg_name="msg", queue_name=names.QUEUE_DELIVER_EMAIL, connection=names.STORAGE_CONNECTION
)
def deliver_email(msg: func.QueueMessage) -> None:
    _deliver(msg)


@bp.function_name(names.FUNCTION_DELIVER["sms"])
@bp.queue_trigger(
    arg_name="msg", queue_name=names.QUEUE_DELIVER_SMS, connection=names.STORAGE_CONNECTION
)
def deliver_sms(msg: func.QueueMessage) -> None:
    _deliver(msg)


@bp.function_name(names.FUNCTION_DELIVER["slack"])
@bp.queue_trigger(
    arg_name="msg", queue_name=names.QUEUE_DELIVER_SLACK, connection=names.STORAGE_CONNECTION
)
def deliver_slack(msg: func.QueueMessage) -> None:
    _deliver(msg)


@bp.function_name(names.FUNCTION_DELIVER["teams"])
@bp.queue_trigger(
    arg_name="msg", queue_name=names.QUEUE_DELIVER_TEAMS, connection=names.STORAGE_CONNECTION
)
def deliver_teams(msg: func.QueueMessage) -> None:
    _deliver(msg)


@bp.function_name(names.FUNCTION_DELIVER["webhook"])
@bp.queue_trigger(
    arg_name="msg", queue_name=names.QUEUE_DELIVER_WEBHOOK, connection=names.STORAGE_CONNECTION
)
def deliver_webhook(msg: func.QueueMessage) -> None:
    _deliver(msg)


@bp.function_name(names.FUNCTION_DELIVER["pagerduty"])
@bp.queue_trigger(
    arg_name="msg", queue_name=names.QUEUE_DELIVER_PAGERDUTY, connection=names.STORAGE_CONNECTION
)
def deliver_pagerduty(msg: func.QueueMessage) -> None:
    _deliver(msg)
