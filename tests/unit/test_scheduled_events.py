"""Scheduled Events in the app: a forwarder post read, made a notice, headlined and routed.

The posts are built from Microsoft's documented Scheduled Events example (the Freeze document,
tests/fixtures/azure/imds-scheduled-events-freeze-sequence.json) with the type changed.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.models import Receiver, VirtualMachine
from shared.render import render_message
from shared.render.headline import headline
from shared.render.labels import label_of
from shared.render.text import ReaderClock
from shared.routing.config import parse_config
from shared.routing.grouping import group_event
from shared.scheduled import (
    InvalidPostError,
    PostNotSignedError,
    check_signature,
    notice_of,
    parse_post,
    sign,
)
from shared.timeutil import format_utc
from shared.wave.records import InMemoryRecordStore, MaintenanceRecord
from tests.conftest import load_fixture

VM_ID = (
    "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-shop-prod"
    "/providers/Microsoft.Compute/virtualMachines/sql-01"
)
# Microsoft's example: NotBefore "Mon, 11 Apr 2026 22:26:58 GMT"; 15 minutes before it.
SEEN = datetime(2026, 4, 11, 22, 11, 58, tzinfo=UTC)


def post(change: str = "new", **event: Any) -> dict[str, Any]:
    sample = load_fixture("imds-scheduled-events-freeze-sequence.json")[1]["Events"][0]
    sample.update({"EventType": "Reboot", **event})
    document: dict[str, Any] = {
        "v": 1,
        "change": change,
        "incarnation": 2,
        "observedAt": "2026-04-11T22:11:58Z",
        "vm": {"name": "sql-01", "resourceId": VM_ID},
        "event": sample,
    }
    if change == "drained":
        document["drain"] = {"succeeded": True, "approved": True, "detail": "drained and approved"}
    return document


def headline_for(document: dict[str, Any], zone: str = "Europe/Amsterdam") -> str:
    parsed = parse_post(json.dumps(document).encode())
    notice = notice_of(parsed, InMemoryRecordStore(), SEEN)
    receiver = Receiver(name="r", type="sms", targets=["+15551234567"], timezone=zone)
    clock = ReaderClock.for_receiver(receiver, SEEN)
    # No VM views: the headline names the VM by its resource id, as for a VM forewarn never read.
    return headline(notice.event, label_of(notice.event), [], clock)


@pytest.mark.parametrize(
    ("document", "zone", "expected"),
    [
        (post(), "Europe/Amsterdam", "Reboot of sql-01 at 00:26 CEST, in 15 min"),
        (post(), "UTC", "Reboot of sql-01 at 22:26 UTC, in 15 min"),
        (post(EventType="Freeze"), "UTC", "Freeze of sql-01 at 22:26 UTC, in 15 min"),
        (post("changed", EventStatus="Started", NotBefore=""), "UTC",
         "Reboot of sql-01 started (seen 22:11 UTC)"),
        (post("vanished", EventStatus="Started", NotBefore=""), "UTC",
         "sql-01 rebooted, back at 22:11 UTC"),
        (post("vanished", EventType="Freeze", EventStatus="Started", NotBefore=""), "UTC",
         "sql-01 resumed after a pause at 22:11 UTC"),
        (post("drained"), "UTC", "sql-01 drained: Reboot approved at 22:11 UTC"),
        # Gone from IMDS 15 min before its NotBefore, never seen Started nor approved: Azure
        # may have called it off (IMDS never says Canceled); it did not reboot as told.
        (post("vanished"), "UTC",
         "Reboot of sql-01 at 22:26 UTC no longer scheduled (seen 22:11 UTC): done early or "
         "canceled"),
        (post("vanished", NotBefore="Mon, 11 Apr 2026 22:00:00 GMT"), "UTC",
         "sql-01 rebooted, back at 22:11 UTC"),
    ],
    ids=["scheduled CEST", "scheduled UTC", "freeze", "started", "gone", "freeze gone", "drained",
         "gone before NotBefore", "gone after NotBefore, Started unseen"],
)  # fmt: skip
def test_each_state_has_its_headline_in_the_readers_zone(
    document: dict[str, Any], zone: str, expected: str
) -> None:
    assert headline_for(document, zone) == expected


@pytest.mark.parametrize(
    ("drain", "expected"),
    [
        ({"succeeded": False, "approved": False, "exitCode": 1},
         "sql-01 drain failed: Reboot at 22:26 UTC as Azure planned"),
        ({"succeeded": True, "approved": False, "exitCode": 0},
         "sql-01 drained, but the approval failed: Reboot at 22:26 UTC as Azure planned"),
    ],
    ids=["drain failed", "approval failed"],
)  # fmt: skip
def test_a_drain_not_approved_says_azure_goes_ahead(drain: dict[str, Any], expected: str) -> None:
    document = post("drained")
    document["drain"] = {**drain, "detail": "as the forwarder says"}
    assert headline_for(document, "UTC") == expected


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda d: d.pop("change"), "/change"),
        (lambda d: d.update(v=2), "/v"),
        (lambda d: d["event"].pop("EventId"), "/event/EventId"),
        (lambda d: d["event"].update(EventStatus="Completed"), "/event/EventStatus"),
        (lambda d: d["event"].update(DurationInSeconds="5"), "/event/DurationInSeconds"),
        (lambda d: d["vm"].update(resourceId="/subscriptions/x"), "/vm/resourceId"),
        (lambda d: d.update(observedAt="yesterday"), "/observedAt"),
        (lambda d: d.update(change="drained"), "/drain"),
        (lambda d: d.update(drainReported="yes"), "/drainReported"),
    ],
    ids=["change", "version", "EventId", "EventStatus", "Duration", "resourceId", "observedAt",
         "drain", "drainReported"],
)  # fmt: skip
def test_a_wrong_post_names_its_field(mutate: Any, pointer: str) -> None:
    document = post()
    mutate(document)
    with pytest.raises(InvalidPostError) as raised:
        parse_post(json.dumps(document).encode())
    assert raised.value.pointer == pointer


def test_the_same_event_and_state_make_the_same_notice_id() -> None:
    first = parse_post(json.dumps(post()).encode())
    again = parse_post(json.dumps({**post(), "observedAt": "2026-04-11T22:12:30Z"}).encode())
    started = parse_post(json.dumps(post("changed", EventStatus="Started", NotBefore="")).encode())
    moved = parse_post(
        json.dumps(post("changed", NotBefore="Mon, 11 Apr 2026 22:41:58 GMT")).encode()
    )
    assert first.notice_id == again.notice_id
    assert started.notice_id != first.notice_id
    assert moved.notice_id not in (first.notice_id, started.notice_id)  # told again
    assert first.notice_id.startswith("scheduled-c7061bac-")


def after(document: dict[str, Any], **extra: Any) -> list[str]:
    """The states (and a scheduled one's NotBefore) of the notices this post's must follow."""
    parsed = parse_post(json.dumps({**document, **extra}).encode())
    notice = notice_of(parsed, InMemoryRecordStore(), SEEN)
    return [event_id.rsplit("-sql-01-", 1)[1] for event_id in notice.after]


@pytest.mark.parametrize(
    ("document", "extra", "expected"),
    [
        (post(), {}, []),
        (post("changed", NotBefore="Mon, 11 Apr 2026 22:41:58 GMT"), {}, []),
        (post("drained"), {}, ["scheduled-20260411222658"]),
        (post("changed", EventStatus="Started", NotBefore=""), {"drainReported": True},
         ["drained"]),
        (post("changed", EventStatus="Started", NotBefore=""), {"drainReported": False}, []),
        (post("changed", EventStatus="Started", NotBefore=""), {}, []),
        (post("vanished", EventStatus="Started", NotBefore=""), {"drainReported": True},
         ["started"]),
        (post("vanished", EventStatus="Started", NotBefore=""), {}, ["started"]),
        (post("vanished"), {"drainReported": True}, ["drained"]),
        (post("vanished"), {}, ["scheduled-20260411222658"]),
    ],
    ids=["scheduled", "moved", "drained", "started after a drain", "started, no drain",
         "started, older forwarder", "gone after started", "gone, older forwarder",
         "gone unseen started, drained", "gone unseen started"],
)  # fmt: skip
def test_each_notice_follows_the_one_before_it_in_the_forwarders_order(
    document: dict[str, Any], extra: dict[str, Any], expected: list[str]
) -> None:
    """GIVEN a post (``drainReported``: the forwarder posted this event's drain before it)
    THEN its notice names the one notice it must not overtake, the last one posted before it."""
    assert after(document, **extra) == expected


UNIFORM_INSTANCE = (
    "/subscriptions/11111111-1111-1111-1111-111111111111/resourceGroups/rg-shop-prod"
    "/providers/Microsoft.Compute/virtualMachineScaleSets/web-vmss/virtualMachines/3"
)


@pytest.mark.parametrize("channel", ["email", "sms", "slack", "teams", "webhook", "pagerduty"])
def test_a_uniform_scale_set_instance_is_told_on_its_own(channel: str) -> None:
    """GIVEN a post from an instance of a Uniform scale set (IMDS names it by its scale set:
    no VM id, so no wave record) THEN a notice about it, in no wave, that every channel
    renders."""
    document = post()
    document["vm"] = {"name": "web-vmss_3", "resourceId": UNIFORM_INSTANCE}
    records = InMemoryRecordStore()
    notice = notice_of(parse_post(json.dumps(document).encode()), records, SEEN)
    (vm,) = notice.vms
    assert (vm.id, vm.name, vm.resource_group) == (UNIFORM_INSTANCE, "web-vmss_3", "rg-shop-prod")
    assert vm.subscription_id == "11111111-1111-1111-1111-111111111111"
    assert notice.event.tracking_id is None
    target = {"email": "ops@example.com", "sms": "+15551234567"}.get(channel, "ops")
    receiver = Receiver(name="r", type=channel, targets=[target], timezone="UTC")
    message = render_message(notice, receiver, notice.vms, SEEN)
    assert "web-vmss_3" in json.dumps(message.to_json())


def test_one_event_on_two_vms_makes_a_notice_for_each() -> None:
    """Azure groups VMs of one host in one event (``Resources`` names them all): each VM's
    forwarder posts it, and each VM's owners must hear of it, not only the first's."""
    # GIVEN the same event posted by the forwarders of sql-01 and sql-02
    first = post(Resources=["sql-01", "sql-02"])
    second = json.loads(json.dumps(first))
    second["vm"] = {"name": "sql-02", "resourceId": VM_ID.replace("sql-01", "sql-02")}
    # THEN two notices, which delivery's idempotency does not take for one
    ids = {parse_post(json.dumps(document).encode()).notice_id for document in (first, second)}
    assert len(ids) == 2


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-Forewarn-Timestamp": "1"}, 401),
        ({"X-Forewarn-Timestamp": str(int(SEEN.timestamp())), "X-Forewarn-Signature": "v1=0"}, 403),
        ({"X-Forewarn-Timestamp": "1", "X-Forewarn-Signature": "v1=00"}, 403),
    ],
    ids=["none", "no signature", "wrong", "stale"],
)  # fmt: skip
def test_signatures_refused(headers: dict[str, str], status: int) -> None:
    with pytest.raises(PostNotSignedError) as raised:
        check_signature(("the-scheduled-events-key",), headers, b"{}", SEEN)
    assert raised.value.status == status


def test_the_previous_key_still_opens_during_a_rotation() -> None:
    stamp = int(SEEN.timestamp())
    headers = {
        "x-forewarn-timestamp": str(stamp),
        "x-forewarn-signature": sign(b"the-old-key-0000", stamp, b"{}"),
    }
    check_signature(("the-new-key-00000", "the-old-key-0000"), headers, b"{}", SEEN)


RECEIVERS = """\
version: 1
receivers:
  - name: oncall-sms
    type: sms
    targets: ['+15551234567']
    options: {account_sid: AC1, auth_token_setting: T, from: '+15005550006'}
  - {name: hook, type: webhook, targets: ['https://example.com/h'], options: {secret_setting: S}}
route:
  receivers: [hook]
  routes:
    - {match: {event_kinds: [scheduled_event]}, receivers: [oncall-sms]}
"""


def test_a_routing_rule_sends_scheduled_events_to_sms_only() -> None:
    config = parse_config(textwrap.dedent(RECEIVERS))
    notice = notice_of(parse_post(json.dumps(post()).encode()), InMemoryRecordStore(), SEEN)
    receivers = [group.receiver.name for group in group_event(notice, config, SEEN)]
    assert receivers == ["oncall-sms"]


@pytest.mark.parametrize(
    ("document", "held"),
    [
        (post(), False),
        (post(NotBefore=""), False),  # a Preempt may come with no time at all: still now
        (post("vanished", EventStatus="Started", NotBefore=""), True),
        (post("changed", EventStatus="Started", NotBefore=""), True),
        (post("drained"), False),  # approved: the reboot starts now
        ({**post("drained"), "drain": {"approved": False, "detail": "failed"}}, False),
    ],
    ids=["scheduled", "scheduled without NotBefore", "gone", "started", "drained", "drain failed"],
)
def test_quiet_hours_hold_what_is_done_never_what_is_coming(
    document: dict[str, Any], held: bool
) -> None:
    from shared.models import QuietHours
    from shared.routing.quiet_hours import hold_until

    receiver = Receiver(
        name="r",
        type="sms",
        targets=["+15551234567"],
        timezone="UTC",
        quiet_hours=QuietHours("22:00", "07:00"),
    )
    notice = notice_of(parse_post(json.dumps(document).encode()), InMemoryRecordStore(), SEEN)
    assert (hold_until(notice, receiver, notice.vms, SEEN) is not None) is held


@pytest.mark.parametrize(
    ("value", "state", "healthy"),
    [
        (None, "off", True),  # Scheduled Events not used: health is not hurt
        ("the-scheduled-events-key", "ok", True),
        ("s3cr3t", "too short", False),
        ("@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/s/x/)", "unresolved", False),
    ],
    ids=["unset", "set", "too short", "unresolved reference"],
)  # fmt: skip
def test_health_names_the_scheduled_events_key_state_never_its_value(
    value: str | None, state: str, healthy: bool
) -> None:
    from shared import names
    from shared.health import HealthReport
    from shared.scheduled import key_state

    environ = {} if value is None else {names.SETTING_SCHEDULED_EVENTS_KEY: value}
    keys, said = key_state(environ)
    assert said.startswith(state)
    assert (value or "") not in said or value is None
    report = HealthReport({"queues": "ok", "tables": "ok"}, scheduled_events_key=said)
    assert report.healthy is healthy
    assert report.to_json()["scheduled_events_key"] == said
    assert keys == ((value,) if state == "ok" else ())


THREADING = [
    # GIVEN the VM's record            last changed      THEN the notice's wave
    ("pending", SEEN - timedelta(days=20), "WAVE-A"),
    ("self_service_started", SEEN - timedelta(hours=2), "WAVE-A"),
    # The sweep found it done minutes ago: the event's last posts ("back") are that wave's.
    ("completed", SEEN - timedelta(hours=3), "WAVE-A"),
    # Wave A ended months ago: a reboot now (host repair, the next wave) is not A's news.
    ("completed", SEEN - timedelta(days=90), None),
    ("gone", SEEN - timedelta(days=90), None),
]


@pytest.mark.parametrize(("status", "changed", "wave"), THREADING)
def test_an_event_is_threaded_into_the_wave_its_vm_is_in_not_one_long_over(
    status: str, changed: datetime, wave: str | None
) -> None:
    vm = VirtualMachine(
        id=VM_ID,
        name="sql-01",
        subscription_id="11111111-1111-1111-1111-111111111111",
        resource_group="rg-shop-prod",
        location="westeurope",
    )
    records = InMemoryRecordStore()
    made = MaintenanceRecord.from_vm(vm, tracking_id="WAVE-A", now=format_utc(changed))
    records.put(replace(made, status=status))  # type: ignore[arg-type]
    notice = notice_of(parse_post(json.dumps(post()).encode()), records, SEEN)
    assert notice.event.tracking_id == wave
