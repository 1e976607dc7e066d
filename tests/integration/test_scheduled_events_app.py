"""Scheduled Events through the whole product: IMDS stand-in -> forwarder -> POST
/api/scheduled-events on the dev host -> route -> deliver to the stand-in SMS and webhook.

GIVEN                               WHEN the forwarder sees            THEN each receiver gets
sql-01 in a wave (notice sent)      a Reboot scheduled in 15 min       "Reboot of sql-01 at HH:MM
                                                                        CET, in 15 min", threaded
                                    the Reboot Started                 "... started (seen HH:MM)"
                                    the event gone                     "sql-01 rebooted, back at"
                                    the same post again (a resend)     nothing more
cache-01, in no wave                a Freeze                           a message, in no thread
web-vmss_3, an instance of a        a Reboot                           a message, in no thread
Uniform scale set (IMDS's id is
.../virtualMachineScaleSets/web-vmss/virtualMachines/3)
a post unsigned / forged / stale    -                                  401 / 403 / 403, nothing
a post without its EventType        -                                  400 naming /event/EventType
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from forwarder.agent import Forwarder
from forwarder.app import sign as forwarder_sign
from forwarder.config import Settings
from shared.scheduled import sign as app_sign
from shared.standins.imds_server import ImdsStandIn
from shared.standins.local_stack import (
    DEMO_SUBSCRIPTION,
    SCHEDULED_EVENTS_KEY,
    LocalStack,
    demo_fleet,
    sample_alert,
)
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration

CHANNELS = ("sms", "webhook")


def vm_id(name: str, group: str = "rg-shop-prod") -> str:
    return (
        f"/subscriptions/{DEMO_SUBSCRIPTION}/resourceGroups/{group}"
        f"/providers/Microsoft.Compute/virtualMachines/{name}"
    )


@pytest.fixture
def stack(azurite: Azurite, tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(demo_fleet(), workdir=tmp_path, channels=CHANNELS, azurite=azurite) as s:
        yield s


def forwarder_for(stack: LocalStack, imds: ImdsStandIn, state: Path) -> Forwarder:
    return Forwarder(
        Settings(
            app_url=stack.base_url,
            key=SCHEDULED_EVENTS_KEY,
            imds_url=imds.base_url,
            state_file=state,
            poll_seconds=0.05,
        )
    )


def webhook_documents(stack: LocalStack) -> list[dict[str, Any]]:
    return [delivery.document for delivery in stack.sinks.webhook.deliveries]


def sms_texts(stack: LocalStack) -> list[str]:
    return [message.body for message in stack.sinks.twilio.messages]


def settle(stack: LocalStack, count: int) -> None:
    assert stack.wait_for_deliveries(count, 60), stack.deliveries()
    assert stack.host is not None
    assert stack.host.wait_until_idle(30, settle_seconds=0.5)


def test_a_reboot_in_a_wave_is_told_in_the_waves_thread(stack: LocalStack, tmp_path: Path) -> None:
    assert stack.post_alert(sample_alert(communication_id=uuid.uuid4().hex)).status_code == 202
    settle(stack, 1)  # the wave's notice: sql-01's record now exists
    with ImdsStandIn(vm_name="sql-01", resource_id=vm_id("sql-01")) as imds:
        forwarder = forwarder_for(stack, imds, tmp_path / "state.json")
        event_id = imds.schedule("Reboot", minutes=15)
        as_scheduled = dict(imds.events[event_id])
        forwarder.step()
        settle(stack, 2)
        imds.begin(event_id)
        forwarder.step()
        settle(stack, 3)
        imds.finish(event_id)
        forwarder.step()
        settle(stack, 4)
        # A resend (the forwarder crashed before it could note the answer) changes nothing.
        (tmp_path / "state.json").unlink()
        again = forwarder_for(stack, imds, tmp_path / "state.json")
        imds.put(as_scheduled)  # the same event, as first seen
        again.step()
        time.sleep(1.0)
        settle(stack, 4)

    documents = webhook_documents(stack)
    assert len(documents) == 4
    headlines = [document["headline"] for document in documents[1:]]
    assert headlines[0].startswith("Reboot of sql-01 at ")
    assert headlines[0].endswith(("in 15 min", "in 14 min"))
    assert " CE" in headlines[0]  # the receivers' zone is Europe/Amsterdam (CET or CEST)
    assert headlines[1].startswith("Reboot of sql-01 started (seen ")
    assert headlines[2].startswith("sql-01 rebooted, back at ")
    for document in documents[1:]:
        assert document["follows"] is not None, "threaded under the wave's first message"
    texts = sms_texts(stack)
    assert any("Reboot of sql-01 at " in text for text in texts)


def test_a_vm_in_no_wave_still_gets_its_message(stack: LocalStack, tmp_path: Path) -> None:
    with ImdsStandIn(vm_name="cache-01", resource_id=vm_id("cache-01"), location="eastus") as imds:
        forwarder = forwarder_for(stack, imds, tmp_path / "state.json")
        imds.schedule("Freeze", minutes=15, duration_seconds=5)
        forwarder.step()
        settle(stack, 1)
    (document,) = webhook_documents(stack)
    assert document["headline"].startswith("Freeze of cache-01 at ")
    assert document.get("follows") is None
    # No record to take it from: the region comes from the VM's own instance metadata.
    assert document["vms"][0]["location"] == "eastus"
    assert document["event"]["regions"] == ["eastus"]
    assert " in eastus," in document["summary"]["text"]
    assert all("unspecified" not in text for text in sms_texts(stack))


def test_an_instance_of_a_uniform_scale_set_gets_its_message(
    stack: LocalStack, tmp_path: Path
) -> None:
    # IMDS names a Uniform scale set's instance by its scale set and instance id, and calls it
    # NAME_ID (Azure/azure-linux-extensions#1736 quotes such an id as IMDS returns it).
    instance = (
        f"/subscriptions/{DEMO_SUBSCRIPTION}/resourceGroups/rg-shop-prod"
        "/providers/Microsoft.Compute/virtualMachineScaleSets/web-vmss/virtualMachines/3"
    )
    with ImdsStandIn(vm_name="web-vmss_3", resource_id=instance) as imds:
        forwarder = forwarder_for(stack, imds, tmp_path / "state.json")
        imds.schedule("Reboot", minutes=15)
        forwarder.step()
        settle(stack, 1)
    (document,) = webhook_documents(stack)
    assert document["headline"].startswith("Reboot of web-vmss_3 at ")
    assert document.get("follows") is None  # no wave record is kept for a scale set instance
    assert document["vms"][0]["id"] == instance


def _post(stack: LocalStack, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(
        f"{stack.base_url}/api/scheduled-events",
        data=body,
        headers={"Content-Type": "application/json", **headers},
        timeout=10,
    )


def _signed(body: bytes, key: str = SCHEDULED_EVENTS_KEY, at: int | None = None) -> dict[str, str]:
    stamp = int(time.time()) if at is None else at
    return {
        "X-Forewarn-Timestamp": str(stamp),
        "X-Forewarn-Signature": app_sign(key.encode(), stamp, body),
    }


def _document(**event: Any) -> dict[str, Any]:
    sample = ImdsStandIn.sample_documents()[1]["Events"][0]
    sample.update({"EventType": "Reboot", **event})
    return {
        "v": 1,
        "change": "new",
        "incarnation": 2,
        "observedAt": "2026-04-11T22:11:58Z",
        "vm": {"name": "sql-01", "resourceId": vm_id("sql-01")},
        "event": sample,
    }


@pytest.mark.parametrize(
    ("headers_of", "status", "says"),
    [
        (lambda body: {}, 401, "signed post is required"),
        (lambda body: _signed(body, key="a-forged-key-of-someone"), 403, "does not match"),
        (lambda body: _signed(body, at=int(time.time()) - 3600), 403, "within 300 s"),
        (lambda body: _signed(body + b" "), 403, "does not match"),
    ],
    ids=["unsigned", "forged key", "stale timestamp", "body changed after signing"],
)
def test_unsigned_or_forged_posts_are_refused_and_send_nothing(
    stack: LocalStack, headers_of: Any, status: int, says: str
) -> None:
    body = json.dumps(_document()).encode()
    answer = _post(stack, body, headers_of(body))
    assert answer.status_code == status
    assert says in answer.json()["message"]
    time.sleep(1.0)
    assert set(stack.deliveries().values()) == {0}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (
            {**_document(), "event": {**_document()["event"], "EventType": "Explode"}},
            "/event/EventType",
        ),
        ({**_document(), "vm": {"resourceId": "/subscriptions/x"}}, "/vm/resourceId"),
        ({**_document(), "change": "maybe"}, "/change"),
        (
            {**_document(), "event": {**_document()["event"], "NotBefore": "soon"}},
            "/event/NotBefore",
        ),
    ],
    ids=["EventType", "resourceId", "change", "NotBefore"],
)
def test_a_wrong_field_is_named(stack: LocalStack, document: dict[str, Any], field: str) -> None:
    body = json.dumps(document).encode()
    answer = _post(stack, body, _signed(body))
    assert answer.status_code == 400
    assert answer.json()["field"] == field


def test_the_forwarder_and_the_app_sign_alike() -> None:
    body = b'{"v": 1}'
    assert forwarder_sign(b"k" * 16, 1700000000, body) == app_sign(b"k" * 16, 1700000000, body)


@pytest.mark.parametrize(
    ("command", "approved", "headlines"),
    [
        (
            ("true",),
            ["EVENT"],
            [
                "Reboot of sql-01 at ",
                "sql-01 drained: Reboot approved at ",
                "Reboot of sql-01 started",
            ],
        ),
        (("false",), [], ["Reboot of sql-01 at ", "sql-01 drain failed: Reboot at "]),
    ],
    ids=["drain succeeds: approved, and the reboot starts", "drain fails: not approved"],
)
def test_a_drain_is_told_and_only_a_successful_one_approves(
    stack: LocalStack,
    tmp_path: Path,
    command: tuple[str, ...],
    approved: list[str],
    headlines: list[str],
) -> None:
    with ImdsStandIn(vm_name="sql-01", resource_id=vm_id("sql-01")) as imds:
        forwarder = Forwarder(
            Settings(
                app_url=stack.base_url,
                key=SCHEDULED_EVENTS_KEY,
                imds_url=imds.base_url,
                state_file=tmp_path / "state.json",
                poll_seconds=0.05,
                drain_command=command,
            )
        )
        event_id = imds.schedule("Reboot", minutes=15)
        forwarder.step()  # posts 'new', drains, posts 'drained' (and approves on success)
        forwarder.step()  # sees the approved event Started, if it was approved
        settle(stack, len(headlines))
        assert imds.approvals == [event_id if item == "EVENT" else item for item in approved]
    got = [document["headline"] for document in webhook_documents(stack)]
    assert len(got) == len(headlines)
    for start in headlines:
        assert sum(line.startswith(start) for line in got) == 1, got
    # Each message waits for the one before it, even after an instant drain and an approval
    # that starts the reboot at once (shared/delivery/order.py): the receiver reads them in
    # the order they happened.
    place = [next(i for i, line in enumerate(got) if line.startswith(start)) for start in headlines]
    assert place == sorted(place), got
