"""Storage adapters under faults: first-use races and unreachable storage, on a real Azurite.

"Already exists" from a create is success, whoever created it; an unreachable account is
reported within a few seconds, not after the SDK's 15-second backoff.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import pytest

from shared.standins.stand_in import closed_port
from shared.storage import (
    AzureBlobPayloadStore,
    AzureEntityTable,
    AzureQueuePublisher,
    StorageEndpoints,
    StorageUnavailableError,
    azurite_connection_string,
)
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration

RACERS = 8


def race(work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(i)`` on RACERS threads released at once; the errors they raised."""
    start = threading.Barrier(RACERS)
    errors: list[BaseException] = []

    def run(index: int) -> None:
        start.wait()
        try:
            work(index)
        except BaseException as error:  # collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return errors


def fresh(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def test_first_payload_writes_racing_to_create_the_container_all_succeed(
    azurite: Azurite,
) -> None:
    endpoints = StorageEndpoints(azurite.connection_string)
    container = fresh("payloads")
    # One store per racer, as separate worker processes have: each finds the container missing.
    stores = [AzureBlobPayloadStore(endpoints, container) for _ in range(RACERS)]
    errors = race(lambda i: stores[i].put(f"deadletter/{i}.json", b"{}"))
    assert errors == []
    assert [stores[0].get(f"deadletter/{i}.json") for i in range(RACERS)] == [b"{}"] * RACERS


def test_first_queue_sends_racing_to_create_the_queue_all_succeed(azurite: Azurite) -> None:
    endpoints = StorageEndpoints(azurite.connection_string)
    queue = fresh("events")
    publishers = [AzureQueuePublisher(endpoints) for _ in range(RACERS)]
    errors = race(lambda i: publishers[i].send(queue, f"message {i}"))
    assert errors == []


def test_first_table_writes_racing_to_create_the_table_all_succeed(azurite: Azurite) -> None:
    endpoints = StorageEndpoints(azurite.connection_string)
    name = fresh("ledger")
    tables = [AzureEntityTable(endpoints, name) for _ in range(RACERS)]
    errors = race(lambda i: tables[i].upsert("p", f"r{i}", {"n": i}))
    assert errors == []
    assert len(list(tables[0].query("p"))) == RACERS


def unreachable() -> StorageEndpoints:
    port = closed_port()
    return StorageEndpoints(azurite_connection_string(port, port, port))


@pytest.mark.parametrize("kind", ["queue", "payload"])
def test_unreachable_storage_is_reported_within_seconds(kind: str) -> None:
    """Ingest answers 503 from these errors; the Action Group must not wait 15 s for it."""
    endpoints = unreachable()
    started = time.monotonic()
    write: Callable[[], None] = (
        (lambda: AzureQueuePublisher(endpoints).send("events", "x"))
        if kind == "queue"
        else (lambda: AzureBlobPayloadStore(endpoints).put("event/x.json", b"{}"))
    )
    with pytest.raises(StorageUnavailableError):
        write()
    assert time.monotonic() - started < 4.0
