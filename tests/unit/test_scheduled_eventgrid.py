"""Azure's Event Grid ``ScheduledEventEmitted`` event read into the forwarder's posts.

On Microsoft's documented sample (tests/fixtures/azure/eventgrid-scheduled-event-emitted.json):

GIVEN the event with EventStatus   THEN one post per VM of Resources, each
Started (the sample as printed)    'changed' / Started, no NotBefore, the VM id assembled from
                                   the event's subscription and group, region eastus
Scheduled                          'new' / Scheduled, NotBefore in UTC: the forwarder's notice id
Completed                          'vanished' (told as "back at"), the forwarder's "gone" id
Canceled                           'canceled': a notice of its own, after the "in 15 min" one
another event type, a bad status   InvalidPostError naming the field
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.scheduled import InvalidPostError, notices_before
from shared.scheduled.eventgrid import posts_of_event
from tests.conftest import load_fixture

SUBSCRIPTION = "11111111-1111-1111-1111-111111111111"


def sample(**properties: Any) -> dict[str, Any]:
    text = json.dumps(load_fixture("eventgrid-scheduled-event-emitted.json"))
    text = text.replace("{subscription-id}", SUBSCRIPTION).replace("{rg-name}", "rg-web")
    text = text.replace("{vmss-name}", "web-vmss").replace(
        "{event-id}", "3da1b9aa-5204-4335-8c33-c54e315dcffe"
    )
    event: dict[str, Any] = json.loads(text)
    event["data"]["resourceInfo"]["properties"].update(properties)
    return event


def test_the_documented_sample_is_one_post_per_vm() -> None:
    first, second = posts_of_event(sample())
    assert (first.vm_name, second.vm_name) == ("myvmss_1", "myvmss_2")
    assert first.vm_resource_id == (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-web"
        "/providers/Microsoft.Compute/virtualMachines/myvmss_1"
    )
    assert (first.change, first.status, first.state) == ("changed", "Started", "started")
    assert first.not_before is None
    assert first.event_type == "Freeze"
    assert first.duration_seconds == 5
    assert first.vm_location == "eastus"
    assert first.observed_at == "2017-06-26T18:41:00Z"
    assert first.notice_id == "scheduled-3da1b9aa-5204-4335-8c33-c54e315dcffe-myvmss_1-started"


@pytest.mark.parametrize(
    ("status", "change", "notice_suffix", "follows"),
    [
        ("Scheduled", "new", "scheduled-20250919182947", []),
        ("Started", "changed", "started", []),
        ("Completed", "vanished", "gone", ["started"]),
        ("Canceled", "canceled", "canceled", ["scheduled-20250919182947"]),
    ],
)
def test_each_status_is_the_forwarders_change(
    status: str, change: str, notice_suffix: str, follows: list[str]
) -> None:
    """THEN also the notice each must not overtake (Event Grid does not promise order): "back
    at" follows Started, a cancellation the "in 15 min" message it calls off."""
    post, _ = posts_of_event(sample(EventStatus=status))
    assert post.change == change
    assert post.notice_id.endswith(f"-{notice_suffix}")
    assert [item.rsplit("-myvmss_1-", 1)[1] for item in notices_before(post)] == follows


@pytest.mark.parametrize(
    ("edit", "pointer"),
    [
        ({"eventType": "Microsoft.ResourceNotifications.Resources.Deleted"}, "/eventType"),
        ({"properties": {"EventStatus": "Paused"}}, "/data/resourceInfo/properties/EventStatus"),
        ({"properties": {"EventType": "Reimage"}}, "/data/resourceInfo/properties/EventType"),
        ({"properties": {"Resources": "myvmss_1"}}, "/data/resourceInfo/properties/Resources"),
    ],
)
def test_what_it_cannot_read_is_named(edit: dict[str, Any], pointer: str) -> None:
    event = sample(**edit.pop("properties", {}))
    event.update(edit)
    with pytest.raises(InvalidPostError) as raised:
        posts_of_event(event)
    assert raised.value.pointer == pointer
