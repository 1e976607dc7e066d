"""The truth oracle on Scheduled Events: what their messages state, read against the notice.

GIVEN sql-01 in a wave, cache-01 in no wave    WHEN the forwarder posts     THEN no message
(its region from IMDS), old-01 from a          new, drained, started,       on any channel
forwarder that does not send the region        gone; a failed drain; a      says what its
                                               Freeze                       notice contradicts
and each check shown to fail on a message that says another minute, time, VM or region.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.models import RenderedMessage
from shared.scheduled.eventgrid import posts_of_event
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, redeploy_status
from shared.standins.imds_server import rfc1123
from shared.timeutil import format_utc
from tests.conftest import load_fixture
from tests.support.truth_oracle import CHECKS, judge, lines_of, scheduled_event_untrue
from tests.support.wave_harness import Sent, wave_harness

NOW = datetime(2030, 3, 2, 13, 50, 20, tzinfo=UTC)  # 14:50 in Paris; NotBefore 14:05:20 UTC
SUBSCRIPTION = "00000000-0000-0000-0000-00000000b024"


def vm_id(name: str) -> str:
    return (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-data"
        f"/providers/Microsoft.Compute/virtualMachines/{name}"
    )


def post(
    change: str,
    vm: str,
    event_id: str,
    *,
    event_type: str = "Reboot",
    status: str = "Scheduled",
    location: str | None = "westeurope",
    seen: datetime = NOW,
    drain: dict[str, Any] | None = None,
) -> bytes:
    """A forwarder post (forwarder/agent.py's shape); ``location=None``: an older forwarder."""
    started = status == "Started"
    return json.dumps(
        {
            "v": 1,
            "change": change,
            "incarnation": 2,
            "observedAt": seen.isoformat().replace("+00:00", "Z"),
            "vm": {"name": vm, "resourceId": vm_id(vm)}
            | ({} if location is None else {"location": location}),
            "event": {
                "EventId": event_id,
                "EventType": event_type,
                "ResourceType": "VirtualMachine",
                "Resources": [vm],
                "EventStatus": status,
                "NotBefore": "" if started else rfc1123(NOW + timedelta(minutes=15)),
                "Description": "",
                "EventSource": "Platform",
                "DurationInSeconds": -1,
            },
        }
        | ({} if drain is None else {"drain": drain})
    ).encode()


APPROVED = {"succeeded": True, "exitCode": 0, "approved": True, "detail": "drained and approved"}
FAILED = {"succeeded": False, "exitCode": 1, "approved": False, "detail": "failed"}


@pytest.fixture(scope="module")
def scheduled() -> list[Sent]:
    close = NOW + timedelta(days=3)
    status = redeploy_status(NOW - timedelta(days=1), close, close, close + timedelta(hours=8))
    fleet = Fleet().add(FleetVm(SUBSCRIPTION, "rg-data", "sql-01", maintenance=status))
    with wave_harness(fleet, NOW) as harness:
        harness.notice(maintenance_event([SUBSCRIPTION], tracking_id="TRK-SCHEDULED"))
        reboot, failing, freeze, old = (str(uuid.uuid4()).upper() for _ in range(4))
        back = NOW + timedelta(minutes=4)
        posts = [
            post("new", "sql-01", reboot),
            post("drained", "sql-01", reboot, drain=APPROVED),
            post("changed", "sql-01", reboot, status="Started", seen=NOW + timedelta(minutes=1)),
            post("vanished", "sql-01", reboot, status="Started", seen=back),
            post("drained", "sql-01", failing, drain=FAILED),
            post("new", "cache-01", freeze, event_type="Freeze"),
            post("new", "old-01", old, location=None),
        ]
        # Azure's own event, through Event Grid: the reboot called off.
        event = load_fixture("eventgrid-scheduled-event-emitted.json")
        event["data"]["resourceInfo"]["id"] = vm_id("sql-01") + "/providers/x/scheduledevents/1"
        event["data"]["resourceInfo"]["properties"].update(
            EventId=failing,
            EventType="Reboot",
            EventStatus="Canceled",
            Resources=["sql-01"],
            NotBefore=rfc1123(NOW + timedelta(minutes=15)),
        )
        canceled = posts_of_event(event)
        sent = [sent for body in [*posts, *canceled] for sent in harness.scheduled_event(body)]
        return sent


def test_no_scheduled_event_message_contradicts_its_notice(scheduled: list[Sent]) -> None:
    assert scheduled_event_untrue in CHECKS
    channels = {sent.job.message.channel for sent in scheduled}
    assert channels == {"email", "sms", "slack", "teams", "webhook"}
    lines = [line for sent in scheduled for line in lines_of(sent)]
    # The oracle reads each kind of line it checks (else it would pass by reading nothing).
    for start in (
        "Reboot of sql-01 at 15:05 CET, in 15 min",
        "sql-01 drained: Reboot approved at 14:50 CET",
        "Reboot of sql-01 started (seen 14:51 CET)",
        "sql-01 rebooted, back at 14:54 CET",
        "sql-01 drain failed: Reboot at 15:05 CET",
        "Reboot of sql-01 at 15:05 CET canceled",
        "Freeze of cache-01 at 15:05 CET, in 15 min",
        "Scheduled event (Scheduled) in westeurope, affecting",
        "Scheduled event (Scheduled) in unspecified regions, affecting",
    ):
        assert any(line.startswith(start) for line in lines), start
    found = judge(scheduled)
    assert not found, "\n".join(str(item) for item in found)


def _first(sent: list[Sent], channel: str, start: str) -> Sent:
    return next(
        s
        for s in sent
        if s.job.message.channel == channel and any(x.startswith(start) for x in lines_of(s))
    )


def _said(sent: Sent, text: str) -> Sent:
    message: RenderedMessage = replace(sent.job.message, text=text, payload=None, subject="")
    return replace(sent, job=replace(sent.job, message=message))


def _edited(start: str, text: str) -> Callable[[list[Sent]], Sent]:
    return lambda sent: _said(_first(sent, "email", start), text)


def _gone_before_due(sent: list[Sent]) -> Sent:
    """The forwarder saw the event go at 14:54 CET with its NotBefore (15:05 CET) still on it:
    never Started, never approved; "rebooted" is more than anyone saw."""
    notice = _edited("sql-01 rebooted", "sql-01 rebooted, back at 14:54 CET")(sent)
    event = notice.enriched.event
    due = replace(event, impact_start=format_utc(NOW + timedelta(minutes=15)))
    return replace(notice, enriched=replace(notice.enriched, event=due))


#   GIVEN a message that says (the truth is the first line of each)
BROKEN = [
    pytest.param(
        _edited("Reboot of sql-01 at", "Reboot of sql-01 at 15:05 CET, in 5 min"), id="minutes"
    ),
    pytest.param(
        _edited("Reboot of sql-01 at", "Reboot of sql-01 at 14:05 CET, in 15 min"), id="utc-time"
    ),
    pytest.param(
        _edited("Reboot of sql-01 at", "Reboot of web-01 at 15:05 CET, in 15 min"), id="other-vm"
    ),
    pytest.param(
        _edited("Reboot of sql-01 at", "Reboot of sql-01 at 15:05 CET, now"), id="now-too-soon"
    ),
    pytest.param(
        _edited("Reboot of sql-01 at 15:05 CET canceled", "Reboot of sql-01 at 15:35 CET canceled"),
        id="canceled-other-time",
    ),
    pytest.param(
        _edited("sql-01 rebooted", "sql-01 rebooted, back at 14:50 CET"), id="back-at-other-time"
    ),
    pytest.param(_gone_before_due, id="rebooted-before-its-not-before-never-started"),
    pytest.param(
        _edited("Freeze of cache-01", "Scheduled event (Scheduled) in eastus, affecting 1"),
        id="other-region",
    ),
    pytest.param(
        _edited(
            "Freeze of cache-01", "Scheduled event (Scheduled) in unspecified regions, affecting 1"
        ),
        id="region-known-but-unsaid",
    ),
]


@pytest.mark.parametrize("breaking", BROKEN)
def test_the_check_finds_what_the_notice_contradicts(
    scheduled: list[Sent], breaking: Callable[[list[Sent]], Sent]
) -> None:
    broken = breaking(scheduled)
    assert judge([broken], [scheduled_event_untrue]), broken.job.message.text
