"""Serialising without copies gives the same JSON as before (issue 18: no behaviour change).

GIVEN                                   WHEN                      THEN
a 300-VM enriched event (real samples)  plain() of each record    equals dataclasses.asdict
each channel's rendered message of it   DeliveryJob.to_json()     equals asdict of the job
                                                                  (a message without calendar
                                                                  entries leaves that key out)
an envelope small enough to go inline   Courier.send              the queue text is json.dumps
                                                                  of the whole message
"""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from shared.models import DeliveryJob, Receiver, plain
from shared.render import RENDERERS, render_message
from shared.standins.enriched_samples import NOW, enriched_with_vms
from shared.storage import Courier, Envelope, InMemoryPayloadStore, InMemoryQueuePublisher

ENRICHED = enriched_with_vms(300)


def test_plain_equals_asdict_on_every_record_of_an_enriched_event() -> None:
    records = [ENRICHED.event, ENRICHED.plan, *ENRICHED.vms, *ENRICHED.notes]
    assert [plain(record) for record in records] == [asdict(record) for record in records]  # type: ignore[call-overload]


@pytest.mark.parametrize("channel", sorted(RENDERERS))
def test_a_delivery_job_serialises_as_asdict_did(channel: str) -> None:
    receiver = Receiver(name=f"r-{channel}", type=channel, targets=["x"], timezone="Europe/Paris")  # type: ignore[arg-type]
    message = render_message(ENRICHED, receiver, ENRICHED.vms, NOW)
    job = DeliveryJob(f"e:{receiver.name}", "e", receiver, message, "2030-01-01T00:00:00Z")
    expected = asdict(job)
    if message.calendar is None:
        del expected["message"]["calendar"]
    assert job.to_json() == expected
    assert DeliveryJob.from_json(job.to_json()) == job


@pytest.mark.parametrize(
    "traceparent", [None, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]
)
def test_an_inline_envelope_is_the_json_of_the_whole_message(traceparent: str | None) -> None:
    queues = InMemoryQueuePublisher()
    body = {"text": 'Wartung \u00e9t\u00e9 \u2014 "quoted"', "n": [1, 2.5, None, True]}
    Courier(queues, InMemoryPayloadStore()).send("q", Envelope("event", "id-1", body, traceparent))
    (text,) = list(queues.drain("q"))
    expected = {"v": 1, "kind": "event", "id": "id-1"}
    if traceparent:
        expected["traceparent"] = traceparent
    expected["body"] = body  # type: ignore[assignment]
    assert text == json.dumps(expected, separators=(",", ":"), ensure_ascii=False)
