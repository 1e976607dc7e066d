"""The route stage: one receiver's message never holds up another's.

The receivers are the example routing file's, all five channels on one route; the queues are
the in-memory publisher (the same ``Courier`` the function uses, without Azurite: nothing here
is about storage). A renderer that raises, and a notice whose tracking id is long enough to
have sent the SMS fitter into an endless loop, must leave every other receiver's job queued.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from shared import names
from shared.models import EnrichedEvent, Receiver, RenderedMessage, VirtualMachine
from shared.render import Renderer, render_message
from shared.routing.config import parse_config
from shared.routing.rules import RoutingConfig
from shared.routing.stage import (
    ENVELOPE_KIND_ENRICHED,
    ReceiversNotRenderedError,
    handle_enriched_message,
)
from shared.standins.enriched_samples import NOW, sample_enriched
from shared.storage import Courier, Envelope, InMemoryPayloadStore, InMemoryQueuePublisher

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "routing.yaml"
FIVE = ["platform-email", "oncall-sms", "prod-slack", "dba-teams", "cmdb-webhook"]


@pytest.fixture(scope="module")
def config() -> RoutingConfig:
    # The example's receivers, every one of them on the default route.
    receivers = EXAMPLE.read_text("utf-8").split("\nroute:")[0]
    return parse_config(receivers + f"\nroute:\n  receivers: [{', '.join(FIVE)}]\n")


@pytest.fixture
def courier() -> Courier:
    return Courier(InMemoryQueuePublisher(), InMemoryPayloadStore())


def queued(courier: Courier) -> Iterator[str]:
    """Receiver names of the jobs on the delivery queues, in the order they were sent."""
    publisher = courier.queues
    assert isinstance(publisher, InMemoryQueuePublisher)
    for queue in names.DELIVERY_QUEUES.values():
        for text in list(publisher.messages[queue]):
            yield str(courier.open(text).body["receiver"]["name"])


def enriched_message(enriched: EnrichedEvent, courier: Courier) -> str:
    """The enriched queue message, as enrich sends it."""
    envelope = Envelope(ENVELOPE_KIND_ENRICHED, enriched.event.event_id, enriched.to_json())
    courier.send(names.QUEUE_ENRICHED, envelope)
    publisher = courier.queues
    assert isinstance(publisher, InMemoryQueuePublisher)
    return publisher.messages[names.QUEUE_ENRICHED].popleft()


@pytest.mark.timeout(20)
def test_a_300_character_tracking_id_reaches_every_receiver(
    config: RoutingConfig, courier: Courier
) -> None:
    # GIVEN the real sample notice with a 300-character tracking id
    enriched = sample_enriched(tracking_id="X" * 300)
    # WHEN the route stage handles it
    jobs = handle_enriched_message(enriched_message(enriched, courier), courier, config, NOW)
    # THEN every receiver, on every channel, has its job queued
    assert sorted(job.receiver.name for job in jobs) == sorted(FIVE)
    assert sorted(queued(courier)) == sorted(FIVE)


def _failing_for(name: str) -> Renderer:
    def render(
        enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
    ) -> RenderedMessage:
        if receiver.name == name:
            raise RecursionError("a renderer bug met by one odd alert")
        return render_message(enriched, receiver, vms, now)

    return render


@pytest.mark.parametrize("failing", FIVE)
def test_a_receiver_whose_render_raises_leaves_every_other_job_queued(
    config: RoutingConfig, courier: Courier, failing: str
) -> None:
    # GIVEN five receivers on five channels, and a renderer that raises for one of them
    text = enriched_message(sample_enriched(), courier)
    # WHEN the stage handles the event
    with pytest.raises(ReceiversNotRenderedError) as raised:
        handle_enriched_message(text, courier, config, NOW, render=_failing_for(failing))
    # THEN the four others are queued, and the failure names the one (for retry, then poison)
    assert sorted(queued(courier)) == sorted(set(FIVE) - {failing})
    assert raised.value.receivers == [failing]


def test_each_job_is_queued_as_soon_as_it_is_rendered(
    config: RoutingConfig, courier: Courier
) -> None:
    # GIVEN a renderer that notes, at each call, which jobs are already on the queues
    seen: list[tuple[str, list[str]]] = []

    def render(
        enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
    ) -> RenderedMessage:
        seen.append((receiver.name, sorted(queued(courier))))
        return render_message(enriched, receiver, vms, now)

    # WHEN the stage handles the event
    handle_enriched_message(
        enriched_message(sample_enriched(), courier), courier, config, NOW, render=render
    )
    # THEN each receiver's render found every receiver rendered before it already queued:
    # a slow render for one receiver never delays the others' messages
    for index, (_name, already) in enumerate(seen):
        assert already == sorted(name for name, _ in seen[:index]), json.dumps(seen)
    assert len(seen) == len(FIVE)
