"""Escalation (issue 21): a VM to start yourself that nobody claimed or started 24 h before its
self-service window closes is escalated once to the receiver's ``escalate.to``; a claim, a
start or its completion resolves it there.

The wave is followed in process (tests/support/wave_harness.py): the stand-in ARM on 127.0.0.1,
the enrich stage, the reminders pass and the route stage's renderers, on a fake clock.

    GIVEN wave TRK-E: sql-01, sql-02, sql-03 to start yourself (windows close at CLOSE),
    web-01 and web-02 in an availability set (Azure does them); routing: chat (Slack)
    escalates to pager (PagerDuty), mail (email) to oncall (email), both 24 h before

    WHEN (the reminders pass)            THEN
    CLOSE - 25 h                         no escalation (nobody is late yet)
    CLOSE - 23 h, sql-02 claimed by      sql-01 escalated to pager and oncall, once; not sql-02
    Alice, sql-03 started                (claimed), sql-03 (started), web-01 (not to self-serve)
    CLOSE - 22 h                         nothing escalated again
    sql-01 claimed by Bob, next pass     resolved: a PagerDuty resolve with the trigger's key;
                                         "resolved: claimed by Bob" to oncall; once
    sql-01 done instead (the sweep)      resolved the same way, "no longer pending"
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared import names
from shared.render.pagerduty import dedup_key_for
from shared.routing.config import parse_config
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, redeploy_status
from shared.wave.claims import ClaimStore
from tests.support.truth_oracle import judge
from tests.support.wave_harness import Sent, WaveHarness, wave_harness

NOW = datetime(2030, 3, 2, 9, tzinfo=UTC)
SUBSCRIPTION = "00000000-0000-0000-0000-00000000e001"
CLOSE = NOW + timedelta(days=5)
H = timedelta(hours=1)
WAVE = "TRK-E"

ROUTING = """\
version: 1
receivers:
  - name: mail
    type: email
    targets: [ops@example.com]
    options: {from: forewarn@example.com, smtp_host: smtp.example.com}
    escalate: {to: oncall, before: 24h}
  - name: chat
    type: slack
    timezone: Europe/Paris
    options: {webhook_url_setting: X_SLACK}
    escalate: {to: pager, before: 24h}
  - name: pager
    type: pagerduty
    options: {routing_key_setting: X_PD}
  - name: oncall
    type: email
    targets: [oncall@example.com]
    timezone: Europe/Paris
    options: {from: forewarn@example.com, smtp_host: smtp.example.com}
route:
  receivers: [mail, chat]
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
def wave() -> Iterator[WaveHarness]:
    fleet = Fleet().add(
        FleetVm(SUBSCRIPTION, "rg-data", "sql-01", maintenance=windows()),
        FleetVm(SUBSCRIPTION, "rg-data", "sql-02", maintenance=windows()),
        FleetVm(SUBSCRIPTION, "rg-data", "sql-03", maintenance=windows()),
        FleetVm(
            SUBSCRIPTION,
            "rg-data",
            "web-01",
            availability_set="as-web",
            update_domain=0,
            maintenance=windows(),
        ),
        FleetVm(
            SUBSCRIPTION,
            "rg-data",
            "web-02",
            availability_set="as-web",
            update_domain=1,
            maintenance=windows(),
        ),
    )
    with wave_harness(fleet, NOW, ROUTING) as harness:
        harness.runner.claims = ClaimStore(harness.storage.table(names.TABLE_CLAIMS))
        harness.notice(maintenance_event([SUBSCRIPTION], tracking_id=WAVE))
        yield harness


def at(wave: WaveHarness, moment: datetime) -> list[Sent]:
    """The reminders pass at ``moment``: every message it sent."""
    wave.now = moment
    _, sent = wave.remind()
    assert judge(sent) == [], judge(sent)
    return sent


def escalations(sent: list[Sent]) -> dict[str, list[str]]:
    """Receiver -> names of the VMs it was told about in an escalation or its resolution."""
    found: dict[str, list[str]] = {}
    for message in sent:
        operation = message.enriched.event.operation_name or ""
        if "escalation" in operation:
            found.setdefault(message.job.receiver.name, []).extend(vm.name for vm in message.vms)
    return found


def claim(wave: WaveHarness, name: str, by: str) -> None:
    assert wave.runner.claims is not None
    wave.runner.claims.claim_vm(vm_id(name), by, "chat", wave.now)


def started(wave: WaveHarness, name: str) -> None:
    record = wave.records.get(vm_id(name))
    assert record is not None
    wave.records.put(replace(record, status="self_service_started"))


def test_the_advice_of_the_wave_is_as_the_table_says(wave: WaveHarness) -> None:
    advice = {r.vm.name: r.advice for r in wave.records.all()}
    assert advice == {
        "sql-01": "self_service",
        "sql-02": "self_service",
        "sql-03": "self_service",
        "web-01": "let_azure",
        "web-02": "let_azure",
    }


def test_only_the_vm_nobody_has_is_escalated_and_only_once(wave: WaveHarness) -> None:
    # GIVEN more than 24 h left: nobody is escalated
    assert escalations(at(wave, CLOSE - 25 * H)) == {}
    # WHEN 23 h are left, sql-02 is claimed and sql-03 started
    wave.now = CLOSE - 23 * H
    claim(wave, "sql-02", "Alice")
    started(wave, "sql-03")
    sent = at(wave, CLOSE - 23 * H)
    # THEN only sql-01 is escalated, to each escalating receiver's target, never to them
    assert escalations(sent) == {"pager": ["sql-01"], "oncall": ["sql-01"]}
    pager = next(s for s in sent if s.job.receiver.name == "pager").job.message
    (event,) = (pager.payload or {})["events"]
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == dedup_key_for(WAVE, vm_id("sql-01"))
    assert event["payload"]["severity"] == "error"
    summary = event["payload"]["summary"]
    assert summary.startswith("Escalated: sql-01 is still to start and nobody claimed or started")
    assert "the self-service window closes at Thu 7 Mar 09:00 UTC" in summary
    mail = next(s for s in sent if s.job.receiver.name == "oncall").job.message
    assert "nobody claimed or started it; the self-service window closes at" in mail.text
    record = wave.records.get(vm_id("sql-01"))
    assert record is not None
    assert [n.receivers for n in record.sent if n.kind == "escalation"] == [["pager", "oncall"]]
    # AND an hour later nothing is escalated again
    assert escalations(at(wave, CLOSE - 22 * H)) == {}


def test_a_claim_resolves_the_escalation_where_it_went_once(wave: WaveHarness) -> None:
    # GIVEN sql-01 escalated
    at(wave, CLOSE - 23 * H)
    # WHEN Bob claims it and the next pass runs
    wave.now = CLOSE - 22 * H
    claim(wave, "sql-01", "Bob")
    sent = at(wave, CLOSE - 22 * H)
    # THEN PagerDuty's alert is resolved with its own key, and oncall reads who has it
    assert escalations(sent) == {"pager": ["sql-01"], "oncall": ["sql-01"]}
    pager = next(s for s in sent if s.job.receiver.name == "pager").job.message
    assert (pager.payload or {})["events"] == [
        {"event_action": "resolve", "dedup_key": dedup_key_for(WAVE, vm_id("sql-01"))}
    ]
    mail = next(s for s in sent if s.job.receiver.name == "oncall").job.message
    assert "sql-01: resolved: claimed by Bob" in mail.text
    # AND the next pass says nothing more
    assert escalations(at(wave, CLOSE - 21 * H)) == {}


def test_completion_resolves_the_escalation(wave: WaveHarness) -> None:
    # GIVEN sql-01 escalated
    at(wave, CLOSE - 23 * H)
    # WHEN Azure has done it (the sweep finds it) and the reminders pass runs
    vm = wave.fleet.find(vm_id("sql-01"))
    assert vm is not None
    vm.maintenance = None
    wave.now = CLOSE - 22 * H
    wave.sweep([SUBSCRIPTION])
    sent = at(wave, CLOSE - 22 * H)
    # THEN the escalation is resolved at its targets
    assert escalations(sent) == {"pager": ["sql-01"], "oncall": ["sql-01"]}
    mail = next(s for s in sent if s.job.receiver.name == "oncall").job.message
    assert "resolved: its maintenance is no longer pending" in mail.text


def test_a_receiver_whose_before_is_shorter_is_escalated_later_not_marked_early() -> None:
    # GIVEN only the chat receiver escalates, 4 h before
    routing = ROUTING.replace(
        "escalate: {to: pager, before: 24h}", "escalate: {to: pager, before: 4h}"
    )
    routing = routing.replace("    escalate: {to: oncall, before: 24h}\n", "")
    fleet = Fleet().add(FleetVm(SUBSCRIPTION, "rg-data", "sql-01", maintenance=windows()))
    with wave_harness(fleet, NOW, routing) as wave:
        wave.runner.claims = ClaimStore(wave.storage.table(names.TABLE_CLAIMS))
        wave.notice(maintenance_event([SUBSCRIPTION], tracking_id=WAVE))
        assert parse_config(routing).escalations["chat"].to == "pager"
        # WHEN passes run 5 h and 3 h before the window closes
        early = escalations(at(wave, CLOSE - 5 * H))
        late = escalations(at(wave, CLOSE - 3 * H))
    # THEN it is escalated at 3 h, not before
    assert early == {}
    assert late == {"pager": ["sql-01"]}
