"""Delivery jobs for a PagerDuty receiver driven through the real delivery stage on Azurite,
as the Functions host runs the ``deliver-pagerduty`` queue: retries included.

    stage, settings = pagerduty_stage(azurite, sinks)
    actions = deliver(stage, settings, job)    # ["retry_scheduled", "delivered"]
"""

from __future__ import annotations

import contextlib

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from shared import names
from shared.channels import default_senders
from shared.delivery.requeue import RetryPolicy
from shared.delivery.stage import DeliveryStage
from shared.models import DeliveryJob
from shared.standins.sinks import LocalSinks
from shared.storage import Envelope, StorageServices, decode_queue_body
from tests.support.azurite import Azurite

FAST = RetryPolicy(max_attempts=4, base_seconds=0, factor=1, cap_seconds=0)
QUEUE = names.QUEUE_DELIVER_PAGERDUTY


def pagerduty_stage(
    azurite: Azurite, sinks: LocalSinks, **changes: str
) -> tuple[DeliveryStage, dict[str, str]]:
    """A stage with fast retries, the stand-ins' secrets (``changes`` over them), and an empty
    ``deliver-pagerduty`` queue."""
    settings = {names.STORAGE_CONNECTION: azurite.connection_string, **sinks.environ, **changes}
    queue = QueueClient.from_connection_string(azurite.connection_string, QUEUE)
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    queue.clear_messages()
    stage = DeliveryStage(
        StorageServices.from_settings(settings),
        default_senders(settings),
        environ=settings,
        policy=FAST,
    )
    return stage, settings


def deliver(stage: DeliveryStage, settings: dict[str, str], job: DeliveryJob) -> list[str]:
    """The job through the stage as the host runs it, retries included, until none is left:
    each outcome's action, in order."""
    storage = StorageServices.from_settings(settings)
    storage.courier.send(QUEUE, Envelope("delivery", job.job_id, job.to_json()))
    queue = QueueClient.from_connection_string(settings[names.STORAGE_CONNECTION], QUEUE)
    actions: list[str] = []
    for _ in range(20):
        messages = list(queue.receive_messages(messages_per_page=1, visibility_timeout=30))
        if not messages:
            if actions and actions[-1] != "retry_scheduled":
                break
            continue  # a retry re-enqueued with a delay of 0 s may take a moment to show
        for message in messages:
            actions.append(stage.handle(decode_queue_body(message.content)).action)
            queue.delete_message(message.id, message.pop_receipt)
    return actions
