"""What the wave tests share: a notice enriched as the enrich stage does it, and messages taken
off an Azurite queue that other tests write to as well.

    enrich_notice(storage, environ, event)       GIVEN the wave's notice was enriched
    take_messages(connection, queue, wanted)     this test's messages, others' left alone
    others_ahead(connection, queue, count)       GIVEN other tests' messages queued first
"""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Callable, Iterator, Mapping

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import BinaryBase64DecodePolicy, BinaryBase64EncodePolicy, QueueClient

from shared import names
from shared.enrich.services import EnrichmentServices
from shared.enrich.stage import EnrichStage
from shared.models import EnrichedEvent, MaintenanceEvent
from shared.storage import (
    Courier,
    Envelope,
    InMemoryPayloadStore,
    InMemoryQueuePublisher,
    StorageServices,
)


def event_message(event: MaintenanceEvent) -> str:
    """The ``events`` queue message ingest would have written."""
    outbox = InMemoryQueuePublisher()
    Courier(outbox, InMemoryPayloadStore()).send(
        names.QUEUE_EVENTS, Envelope("event", event.event_id, event.to_json())
    )
    return outbox.messages[names.QUEUE_EVENTS].popleft()


def enrich_notice(
    storage: StorageServices, environ: Mapping[str, str], event: MaintenanceEvent
) -> EnrichedEvent:
    """The real enrich stage handles ``event``: its VMs are read and their records written."""
    stage = EnrichStage(storage, EnrichmentServices.create(environ))
    enriched = stage.handle(event_message(event), dequeue_count=1)
    assert enriched is not None, "a message queued without a token is always admitted"
    return enriched


def take_messages(
    connection_string: str, queue_name: str, wanted: Callable[[str], bool]
) -> list[str]:
    """Delete and return the messages ``wanted`` accepts. Every message looked at stays hidden
    for the 5 s this takes, so no batch shows one twice and other tests' come back after."""
    queue = QueueClient.from_connection_string(
        connection_string,
        queue_name,
        message_encode_policy=BinaryBase64EncodePolicy(),
        message_decode_policy=BinaryBase64DecodePolicy(),
    )
    taken = []
    for _ in range(50):
        batch = list(queue.receive_messages(max_messages=32, visibility_timeout=5))
        if not batch:
            break
        for message in batch:
            text = bytes(message.content).decode("utf-8")
            if wanted(text):
                queue.delete_message(message)
                taken.append(text)
    return taken


@contextlib.contextmanager
def others_ahead(connection_string: str, queue_name: str, count: int) -> Iterator[None]:
    """``count`` messages of no test's, ahead of whatever the test queues next: more than one
    32-message read, as a queue shared by the whole session holds after a failed test."""
    queue = QueueClient.from_connection_string(
        connection_string,
        queue_name,
        message_encode_policy=BinaryBase64EncodePolicy(),
        message_decode_policy=BinaryBase64DecodePolicy(),
    )
    marker = f"others-{uuid.uuid4().hex}"
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    for index in range(count):
        # An envelope as any stage writes it (other tests open what they look at).
        body = {"kind": "other", "id": f"{marker}-{index}", "body": {"marker": marker}}
        # Short-lived: if the test fails before taking them back they vanish by themselves.
        queue.send_message(json.dumps(body).encode("utf-8"), time_to_live=30)
    try:
        yield
    finally:
        take_messages(connection_string, queue_name, lambda text: marker in text)
