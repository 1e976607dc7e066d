"""Fuzz: no input breaks ingest (issue 8).

GIVEN a real sample with hostile values in any of its fields (shared/standins/alert_mutations.py)
WHEN ``AlertIngestor.handle`` answers it (in-process, in-memory queue)
THEN never a 5xx and never a hang; a 400 names a field and is bounded; and whatever is queued is
an event that the enrich stage reads back whole: GUID subscriptions, a tracking id that is one
ARM path segment, resource ids that name VMs only in the event's subscriptions, UTC timestamps.
"""

from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared import names
from shared.accepted import BODY_KEY, Stamp
from shared.enrich.arm_paths import path_segment
from shared.enrich.discovery import named_vms
from shared.ingest import AlertIngestor, IngestRequest
from shared.models import MaintenanceEvent
from shared.parsing.identifiers import is_subscription_id
from shared.standins.alert_mutations import SAMPLE_FILES, every_single_mutation, mutate, samples
from shared.storage import Courier, InMemoryPayloadStore, InMemoryQueuePublisher
from shared.timeutil import parse_utc

JSON = {"Content-Type": "application/json"}
SAMPLES = samples()
HANG_SECONDS = 5.0  # a generous bound: a normal answer takes milliseconds
MAX_400_BYTES = 16 * 1024


def check_answer(body: bytes) -> int:
    queue = InMemoryQueuePublisher()
    courier = Courier(queue, InMemoryPayloadStore())
    started = time.monotonic()
    response = AlertIngestor(courier).handle(IngestRequest(body, JSON))
    assert time.monotonic() - started < HANG_SECONDS, "no answer should take this long"
    assert response.status in (200, 202, 400, 413), response
    queued = list(queue.drain(names.QUEUE_EVENTS))
    assert len(queued) == (1 if response.status == 202 else 0)
    if response.status == 400:
        check_bounded_400(response.body)
    if response.status == 202:
        check_enqueued(courier.open(queued[0]).body, response.body["event_id"])
    return response.status


def check_bounded_400(answer: dict[str, Any]) -> None:
    assert answer["problems"], "a 400 names at least one field"
    assert all(problem["pointer"].startswith("/") for problem in answer["problems"]), answer
    assert answer["problem_count"] >= len(answer["problems"])
    assert len(json.dumps(answer)) < MAX_400_BYTES


def check_enqueued(body: dict[str, Any], event_id: str) -> None:
    text = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
    event = MaintenanceEvent.from_json(json.loads(text))
    # the queued body is the event and the stamp that names this copy (shared/accepted.py)
    assert Stamp.of(body) is not None
    event_fields = {key: value for key, value in body.items() if key != BODY_KEY}
    assert event.to_json() == event_fields, "the event survives the queue whole"
    assert event.event_id == event_id
    assert event.subscription_ids
    assert all(is_subscription_id(s) for s in event.subscription_ids), event.subscription_ids
    if event.tracking_id is not None:
        path_segment(event.tracking_id)  # raises if it is not one ARM path segment
    vms = named_vms(event.resource_ids, event.subscription_ids)
    assert vms.notes == [], "every VM it names is well-formed and in its subscriptions"
    for moment in (event.impact_start, event.impact_end, event.event_time, event.received_at):
        if moment is not None:
            parse_utc(moment)


@pytest.mark.parametrize("index", range(len(SAMPLES)), ids=[*SAMPLE_FILES, "rh-platform"])
def test_every_hostile_value_in_every_field_of_a_sample(index: int) -> None:
    statuses: dict[int, int] = {}
    for _, _, body in every_single_mutation(SAMPLES[index]):
        status = check_answer(body)
        statuses[status] = statuses.get(status, 0) + 1
    assert statuses.get(400), "the hostile values are noticed"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.randoms(use_true_random=False))
def test_several_mutations_at_once(sample: Any, rng: random.Random) -> None:
    check_answer(mutate(sample, rng))


def test_the_unmutated_samples_are_answered_as_before() -> None:
    assert [check_answer(json.dumps(sample).encode()) for sample in SAMPLES] == [
        202,  # maintenance
        202,  # maintenance naming VMs
        202,  # service health incident test action
        202,  # legacy incident
        200,  # Resource Health: a user's reboot
        400,  # legacy Resource Health: "<subscription Id>" is not a subscription
        202,  # administrative VM restart
        200,  # administrative on an action group
        202,  # Resource Health: platform-initiated
    ]
