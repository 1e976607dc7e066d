"""Scheduled Events without an agent: Event Grid -> the Functions host's Event Grid webhook on
the dev host -> the Event Grid trigger -> route -> the stand-in webhook and SMS receivers.

GIVEN                                        WHEN Event Grid delivers               THEN
a subscription being created                 its validation handshake               the code echoed
Microsoft's sample, made Scheduled in 15 min the event (twice: Azure may repeat)    one message per
for myvmss_1 and myvmss_2 of a scale set                                            VM and receiver:
                                                                                    "Freeze of
                                                                                    myvmss_1 at …,
                                                                                    in 15 min"
an event of another type                     the event                              202, none sent
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from shared import names
from shared.standins.imds_server import rfc1123
from shared.standins.local_stack import DEMO_SUBSCRIPTION, LocalStack, demo_fleet
from tests.conftest import load_fixture
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(azurite: Azurite, tmp_path: Path) -> Iterator[LocalStack]:
    channels = ("sms", "webhook")
    with LocalStack(demo_fleet(), workdir=tmp_path, channels=channels, azurite=azurite) as s:
        yield s


def scheduled_sample(event_id: str) -> dict[str, Any]:
    text = json.dumps(load_fixture("eventgrid-scheduled-event-emitted.json"))
    for placeholder, value in {
        "{subscription-id}": DEMO_SUBSCRIPTION,
        "{rg-name}": "rg-shop-prod",
        "{vmss-name}": "web-vmss",
        "{event-id}": event_id,
    }.items():
        text = text.replace(placeholder, value)
    event: dict[str, Any] = json.loads(text)
    properties = event["data"]["resourceInfo"]["properties"]
    properties.update(
        EventId=event_id,
        EventStatus="Scheduled",
        NotBefore=rfc1123(datetime.now(UTC) + timedelta(minutes=15)),
    )
    event["eventTime"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return event


def deliver(stack: LocalStack, kind: str, events: list[dict[str, Any]]) -> requests.Response:
    return requests.post(
        f"{stack.base_url}/runtime/webhooks/eventgrid",
        params={"functionName": names.FUNCTION_SCHEDULED_EVENTS_EVENTGRID},
        data=json.dumps(events),
        headers={"Content-Type": "application/json", "aeg-event-type": kind},
        timeout=10,
    )


def test_the_subscription_handshake_is_answered(stack: LocalStack) -> None:
    validation = {
        "id": str(uuid.uuid4()),
        "eventType": "Microsoft.EventGrid.SubscriptionValidationEvent",
        "data": {"validationCode": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"},
    }
    answer = deliver(stack, "SubscriptionValidation", [validation])
    assert answer.status_code == 200
    assert answer.json() == {"validationResponse": "512d38b6-c7b8-40c8-89fe-f46f9e9622b6"}


def test_a_scheduled_event_from_event_grid_is_told_once_per_vm(stack: LocalStack) -> None:
    event = scheduled_sample(str(uuid.uuid4()))
    assert deliver(stack, "Notification", [event]).status_code == 202
    assert deliver(stack, "Notification", [event]).status_code == 202  # Azure's double
    assert stack.wait_for_deliveries(2, 60), stack.deliveries()
    assert stack.host is not None
    assert stack.host.wait_until_idle(30, settle_seconds=0.5)
    time.sleep(1.0)  # a second message, if one were coming, would be on its way

    documents = [delivery.document for delivery in stack.sinks.webhook.deliveries]
    headlines = sorted(document["headline"] for document in documents)
    assert len(headlines) == 2, headlines
    assert headlines[0].startswith("Freeze of myvmss_1 at ")
    assert headlines[1].startswith("Freeze of myvmss_2 at ")
    assert all(line.endswith(("in 15 min", "in 14 min")) for line in headlines)
    assert {document["vms"][0]["location"] for document in documents} == {"eastus"}
    # Each number of the SMS receiver hears of each VM once, Azure's double notwithstanding.
    texts = [(sms.to, sms.body.split(" at ")[0]) for sms in stack.sinks.twilio.messages]
    assert len(texts) == len(set(texts))
    assert {what for _, what in texts} == {"Freeze of myvmss_1", "Freeze of myvmss_2"}


def test_an_event_of_another_type_sends_nothing(stack: LocalStack) -> None:
    event = scheduled_sample(str(uuid.uuid4()))
    event["eventType"] = "Microsoft.ResourceNotifications.Resources.CreatedOrUpdated"
    assert deliver(stack, "Notification", [event]).status_code == 202
    assert stack.host is not None
    assert stack.host.wait_until_idle(10, settle_seconds=0.5)
    assert stack.sinks.webhook.deliveries == []
