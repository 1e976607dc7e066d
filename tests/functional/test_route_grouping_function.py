"""The grouping interval through the route function as the host calls it, on a real Azurite.

GIVEN FOREWARN_GROUP_WAIT_SECONDS=2 and the sample wave's Planned notice sent once per
subscription (two notices, each naming its own subscription's VMs), WHEN the route function
gets both from the ``enriched`` queue, THEN no job is queued yet and a ``group`` message is on
the queue, invisible for about 2 s (Azurite's own visibility delay); WHEN the function gets
that message, THEN each receiver of the example routing file has one job listing its VMs of
both notices.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import azure.functions as func
import pytest

from functions import route
from shared import names
from shared.models import EnrichedEvent
from shared.routing.gather import ENVELOPE_KIND_GROUP
from shared.standins.enriched_samples import sample_enriched
from shared.storage import StorageServices
from tests.functional.test_route_stage import (
    EXAMPLE,
    call_the_function,
    deliver_through_the_function,
    jobs_for,
)
from tests.support.azurite import Azurite
from tests.support.wave_setup import take_messages

OTHER = "7d3c9a10-4b2e-4f6a-9c8d-1e2f3a4b5c6d"


@pytest.fixture
def services(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[StorageServices]:
    monkeypatch.setenv(names.STORAGE_CONNECTION, azurite.connection_string)
    monkeypatch.setenv(names.SETTING_CONFIG, str(EXAMPLE))
    monkeypatch.setenv(names.SETTING_GROUP_WAIT_SECONDS, "2")
    route._stage.cache_clear()
    yield StorageServices.from_settings({names.STORAGE_CONNECTION: azurite.connection_string})
    route._stage.cache_clear()


def per_subscription() -> tuple[EnrichedEvent, EnrichedEvent]:
    whole = sample_enriched(tracking_id=f"WAVE-{uuid.uuid4().hex[:8]}")
    first, second = whole.vms[:2], whole.vms[2:]
    return (
        replace(whole, event=replace(whole.event, event_id=f"test-{uuid.uuid4().hex}"), vms=first),
        replace(
            whole,
            event=replace(
                whole.event, event_id=f"test-{uuid.uuid4().hex}", subscription_ids=[OTHER]
            ),
            vms=second,
        ),
    )


def take_group_message(
    services: StorageServices, tracking_id: str, within: float
) -> tuple[float, str]:
    """Poll the enriched queue for this wave's ``group`` message; (seconds waited, group id).
    Other tests' messages, however many are ahead, are left for them."""
    connection = services.courier.queues._endpoints.connection_string  # type: ignore[attr-defined]

    def ours(text: str) -> bool:
        if json.loads(text).get("kind") != ENVELOPE_KIND_GROUP:
            return False
        key = str(services.courier.open(text).body.get("key"))  # the wave, lower-cased
        return key.startswith(f"{tracking_id.lower()}|")

    started = time.monotonic()
    while time.monotonic() - started < within:
        for text in take_messages(connection, names.QUEUE_ENRICHED, ours):
            waited = time.monotonic() - started
            call_the_function(func.QueueMessage(id="group", body=text.encode("utf-8")))
            return waited, str(json.loads(text)["id"])
        time.sleep(0.2)
    raise AssertionError(f"no group message within {within} s")


def test_a_wave_per_subscription_becomes_one_job_per_receiver(services: StorageServices) -> None:
    first, second = per_subscription()
    started = time.monotonic()
    deliver_through_the_function(services, first)
    deliver_through_the_function(services, second)
    assert jobs_for(services, first.event.event_id) == {}
    assert jobs_for(services, second.event.event_id) == {}
    waited, group_id = take_group_message(services, str(first.event.tracking_id), within=15)
    assert time.monotonic() - started >= 1.5  # invisible until the group was due
    assert waited < 15
    jobs = jobs_for(services, group_id)
    assert jobs, "the group reached no receiver"
    every = {vm.name for vm in first.vms + second.vms}
    listed = {
        name
        for job in jobs.values()
        for name in every
        if name in json.dumps(job.message.to_json(), ensure_ascii=False)
    }
    assert listed == every  # both subscriptions' VMs
    # The example's cmdb-webhook takes every VM: one job lists all four, from both notices.
    assert jobs["cmdb-webhook"].message.meta["vms"] == len(every) == 4
    assert all(job.event_id == group_id for job in jobs.values())
