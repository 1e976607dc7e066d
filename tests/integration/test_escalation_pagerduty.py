"""Escalations and their resolutions reach PagerDuty: the wave followed in process (the stand-in
ARM, the enrich stage, the reminders pass, the route stage), each message for the PagerDuty
receiver delivered by the real delivery stage (Azurite) to the stand-in Events API v2.

    GIVEN wave TRK-P: sql-01 and sql-02 to start yourself, their windows closing at CLOSE;
    chat (Slack) escalates to pager (PagerDuty) 24 h before

    WHEN                                         THEN at the stand-in
    the pass 23 h before                         one alert per VM, triggered once
    the pass again, twice                        no second trigger, no second alert
    Alice claims sql-01; the next pass           sql-01's alert resolved, sql-02's open
    Azure completes sql-02; sweep, then pass     sql-02's alert resolved; nothing open
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shared import names
from shared.render.pagerduty import dedup_key_for
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, redeploy_status
from shared.standins.sinks import LocalSinks
from shared.wave.claims import ClaimStore
from tests.support.azurite import Azurite
from tests.support.pagerduty_delivery import deliver, pagerduty_stage
from tests.support.truth_oracle import judge
from tests.support.wave_harness import Sent, WaveHarness, wave_harness

pytestmark = pytest.mark.integration

NOW = datetime(2030, 3, 2, 9, tzinfo=UTC)
SUBSCRIPTION = "00000000-0000-0000-0000-00000000e002"
CLOSE = NOW + timedelta(days=5)
H = timedelta(hours=1)
WAVE = "TRK-P"


def routing(sinks: LocalSinks) -> str:
    options = sinks.options["pagerduty"]
    return f"""\
version: 1
receivers:
  - name: chat
    type: slack
    options: {{webhook_url_setting: X_SLACK}}
    escalate: {{to: pager, before: 24h}}
  - name: pager
    type: pagerduty
    options:
      routing_key_setting: {options["routing_key_setting"]}
      api_base: "{options["api_base"]}"
      timeout: 5
route:
  receivers: [chat]
"""


def vm_id(name: str) -> str:
    return (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-data"
        f"/providers/Microsoft.Compute/virtualMachines/{name}"
    )


def windows() -> dict[str, object]:
    return redeploy_status(
        NOW - timedelta(days=1), CLOSE, CLOSE + timedelta(minutes=5), CLOSE + timedelta(hours=8)
    )


@pytest.fixture
def sinks() -> Iterator[LocalSinks]:
    with LocalSinks(timeout_seconds=5.0) as running:
        yield running


@pytest.fixture
def wave(sinks: LocalSinks) -> Iterator[WaveHarness]:
    fleet = Fleet().add(
        FleetVm(SUBSCRIPTION, "rg-data", "sql-01", maintenance=windows()),
        FleetVm(SUBSCRIPTION, "rg-data", "sql-02", maintenance=windows()),
    )
    with wave_harness(fleet, NOW, routing(sinks)) as harness:
        harness.runner.claims = ClaimStore(harness.storage.table(names.TABLE_CLAIMS))
        harness.notice(maintenance_event([SUBSCRIPTION], tracking_id=WAVE))
        yield harness


def remind_and_deliver(wave: WaveHarness, azurite: Azurite, sinks: LocalSinks) -> list[str]:
    """The reminders pass at ``wave.now``; every job for ``pager`` through the delivery stage."""
    _, sent = wave.remind()
    assert judge(sent) == []
    stage, settings = pagerduty_stage(azurite, sinks)
    actions = []
    for message in sent:
        if message.job.receiver.name == "pager":
            actions += deliver(stage, settings, message.job)
    return actions


def test_an_escalation_pages_once_and_a_claim_or_completion_resolves_it(
    wave: WaveHarness, azurite: Azurite, sinks: LocalSinks
) -> None:
    keys = {name: dedup_key_for(WAVE, vm_id(name)) for name in ("sql-01", "sql-02")}
    pagerduty = sinks.pagerduty
    # WHEN the pass runs 23 h before the windows close
    wave.now = CLOSE - 23 * H
    assert remind_and_deliver(wave, azurite, sinks) == ["delivered"]
    # THEN each VM has one open alert, triggered once, at error severity
    assert sorted(alert.dedup_key for alert in pagerduty.alerts) == sorted(keys.values())
    assert {(alert.status, alert.triggers, alert.severity) for alert in pagerduty.alerts} == {
        ("triggered", 1, "error")
    }
    # WHEN the pass runs again, twice
    wave.now = CLOSE - 22 * H
    assert remind_and_deliver(wave, azurite, sinks) == []
    assert remind_and_deliver(wave, azurite, sinks) == []
    # THEN nothing more was triggered
    assert len(pagerduty.triggered()) == 2 and len(pagerduty.alerts) == 2
    # WHEN Alice claims sql-01 and the next pass runs
    assert wave.runner.claims is not None
    wave.runner.claims.claim_vm(vm_id("sql-01"), "Alice", "chat", wave.now)
    assert remind_and_deliver(wave, azurite, sinks) == ["delivered"]
    # THEN sql-01's alert is resolved with its own key; sql-02's stays open
    assert pagerduty.open_alert(keys["sql-01"]) is None
    assert pagerduty.open_alert(keys["sql-02"]) is not None
    # WHEN Azure completes sql-02, the sweep finds it and the next pass runs
    vm = wave.fleet.find(vm_id("sql-02"))
    assert vm is not None
    vm.maintenance = None
    wave.now = CLOSE - 21 * H
    wave.sweep([SUBSCRIPTION])
    assert remind_and_deliver(wave, azurite, sinks) == ["delivered"]
    # THEN nothing is open, each alert was resolved once, and nothing was triggered again
    assert [alert.status for alert in pagerduty.alerts] == ["resolved", "resolved"]
    assert sorted(e["dedup_key"] for e in pagerduty.resolved()) == sorted(keys.values())
    assert len(pagerduty.triggered()) == 2
    # AND a later pass says nothing more
    wave.now = CLOSE - 20 * H
    assert remind_and_deliver(wave, azurite, sinks) == []


def deliver_to_pager(sent: list[Sent], azurite: Azurite, sinks: LocalSinks) -> list[str]:
    assert judge(sent) == []
    stage, settings = pagerduty_stage(azurite, sinks)
    actions = []
    for message in sent:
        if message.job.receiver.name == "pager":
            actions += deliver(stage, settings, message.job)
    return actions


def later_windows() -> dict[str, object]:
    start = CLOSE + timedelta(days=30)
    return redeploy_status(NOW, start, start + timedelta(minutes=5), start + timedelta(hours=8))


@pytest.fixture
def own_wave(sinks: LocalSinks) -> Iterator[tuple[WaveHarness, str]]:
    """``wave`` under a tracking id of its own: delivery's idempotency (Azurite, the whole
    session's) would take its jobs for another test's of the same wave and VMs."""
    tracking = f"TRK-E{uuid.uuid4().hex[:8].upper()}"
    fleet = Fleet().add(
        FleetVm(SUBSCRIPTION, "rg-data", "sql-01", maintenance=windows()),
        FleetVm(SUBSCRIPTION, "rg-data", "sql-02", maintenance=windows()),
    )
    with wave_harness(fleet, NOW, routing(sinks)) as harness:
        harness.runner.claims = ClaimStore(harness.storage.table(names.TABLE_CLAIMS))
        harness.notice(maintenance_event([SUBSCRIPTION], tracking_id=tracking))
        yield harness, tracking


def by_notice(wave: WaveHarness) -> list[Sent]:
    later = f"TRK-Q{uuid.uuid4().hex[:8].upper()}"
    return wave.notice(maintenance_event([SUBSCRIPTION], tracking_id=later))


def by_sweep(wave: WaveHarness) -> list[Sent]:
    return wave.sweep([SUBSCRIPTION])[1]


# An escalation of wave A was resolved only by the hourly reminders pass, which reads live
# records: a wave B that started the VM afresh within that hour moved the record (and its open
# escalation) to the ended records, where nothing resolved it, and the pager stayed open.
@pytest.mark.parametrize(
    "wave_b_starts",
    [
        # GIVEN both VMs escalated in wave A, then done (the sweep saw it; no pass since)
        # WHEN wave B starts them afresh before the next pass     THEN at the stand-in
        pytest.param(by_notice, id="Azure's notice of TRK-Q"),  # both alerts resolved, once
        pytest.param(by_sweep, id="the sweep finds later windows"),  # the same
    ],
)
def test_a_new_wave_that_ends_an_escalated_record_resolves_its_alert(
    own_wave: tuple[WaveHarness, str],
    azurite: Azurite,
    sinks: LocalSinks,
    wave_b_starts: Callable[[WaveHarness], list[Sent]],
) -> None:
    wave, tracking = own_wave
    keys = {name: dedup_key_for(tracking, vm_id(name)) for name in ("sql-01", "sql-02")}
    pagerduty = sinks.pagerduty
    # As functions/enrich.py wires the stage: records a new wave ends are resolved first.
    wave.stage.resolve_ended = wave.runner.resolve_ended
    wave.now = CLOSE - 23 * H
    assert remind_and_deliver(wave, azurite, sinks) == ["delivered"]
    assert len(pagerduty.triggered()) == 2
    for name in ("sql-01", "sql-02"):
        vm = wave.fleet.find(vm_id(name))
        assert vm is not None
        vm.maintenance = None
    wave.now = CLOSE - 22 * H
    wave.sweep([SUBSCRIPTION])
    for name in ("sql-01", "sql-02"):
        vm = wave.fleet.find(vm_id(name))
        assert vm is not None
        vm.maintenance = later_windows()
    # WHEN wave B starts the VMs afresh within the hour
    wave.now += timedelta(minutes=20)
    assert "delivered" in deliver_to_pager(wave_b_starts(wave), azurite, sinks)
    # THEN each alert of wave A is resolved with its own key, and none triggered again
    assert [alert.status for alert in pagerduty.alerts] == ["resolved", "resolved"]
    assert sorted(e["dedup_key"] for e in pagerduty.resolved()) == sorted(keys.values())
    assert len(pagerduty.triggered()) == 2
    # AND the next pass says nothing more to the pager
    wave.now += timedelta(minutes=40)
    assert remind_and_deliver(wave, azurite, sinks) == []
    assert len(pagerduty.resolved()) == 2
