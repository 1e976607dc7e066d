"""Follow-up messages say what holds (issue 16): each finding as GIVEN/WHEN/THEN on a wave
followed in process (stand-in ARM on 127.0.0.1, the real enrich stage, passes and renderers).

Finding 1: a reminder re-reads its VM and must give the advice the first notice gave.

    GIVEN                               WHEN                    THEN
    sql-01 advised "start it yourself"  the 72 h reminder       email lists it under "Start
    (a standalone VM), told 5 days      pass runs               yourself", not "No action
    before its self-service window                              needed"; the SMS names sql-01
    closes                                                      and its deadline; the record
                                                                keeps advice self_service
    the same, 72 h reminder sent        the 24 h reminder pass  a self_service-24h reminder
                                        runs                    for sql-01 goes out
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from jsonschema import Draft202012Validator

from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, redeploy_status
from tests.support.hostile import WEBHOOK_SCHEMA
from tests.support.wave_harness import Sent, WaveHarness, wave_harness

NOW = datetime(2030, 3, 2, 9, tzinfo=UTC)
SUBSCRIPTION = "00000000-0000-0000-0000-00000000a001"
CLOSE = NOW + timedelta(days=5)  # sql-01's self-service window closes: Thu 7 Mar 10:00 CET


def vm_id(group: str, name: str) -> str:
    return (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}"
        f"/providers/Microsoft.Compute/virtualMachines/{name}"
    )


SQL_01, SQL_02, WEB_01 = (
    vm_id("rg-data", "sql-01"),
    vm_id("rg-data", "sql-02"),
    vm_id("rg-web", "web-01"),
)


def windows(close: datetime) -> dict[str, object]:
    return redeploy_status(
        NOW - timedelta(days=1), close, close + timedelta(minutes=5), close + timedelta(hours=8)
    )


@pytest.fixture
def wave() -> Iterator[WaveHarness]:
    fleet = Fleet().add(
        FleetVm(SUBSCRIPTION, "rg-data", "sql-01", maintenance=windows(CLOSE)),
        FleetVm(SUBSCRIPTION, "rg-data", "sql-02", maintenance=windows(CLOSE + timedelta(hours=3))),
        FleetVm(
            SUBSCRIPTION, "rg-web", "web-01", availability_set="as-web", maintenance=windows(CLOSE)
        ),
    )
    with wave_harness(fleet, NOW) as harness:
        harness.notice(maintenance_event([SUBSCRIPTION], tracking_id="TRK-1"))
        yield harness


def reminder_to(sent: list[Sent], receiver: str, label: str) -> str:
    texts = [
        s.job.message.text
        for s in sent
        if s.job.receiver.name == receiver
        and (s.enriched.event.operation_name or "").endswith(f"reminder/{label}")
    ]
    assert len(texts) == 1, [s.enriched.event.operation_name for s in sent]
    return texts[0]


def test_the_72h_reminder_lists_a_self_service_vm_under_start_yourself(
    wave: WaveHarness,
) -> None:
    wave.now = CLOSE - timedelta(hours=71, minutes=30)
    _, sent = wave.remind()
    email = reminder_to(sent, "mail", "self_service-72h")
    assert email.splitlines()[1].startswith("Reminder: Azure reboots 1 VM in eastus"), email
    _, _, rest = email.partition("Start yourself (1)\n")
    assert rest.startswith("- sql-01 (rg-data) · start by Thu 7 Mar 10:00 CET"), email
    assert "No action needed" not in email
    assert "Advice: Start it yourself in the self-service window" in email
    sms = reminder_to(sent, "phone", "self_service-72h")
    assert sms.startswith("Start sql-01 yourself by Thu 7 Mar 10:00 CET"), sms
    record = wave.records.get(SQL_01)
    assert record is not None and record.advice == "self_service"


def test_the_24h_self_service_reminder_still_fires_after_the_72h_one(wave: WaveHarness) -> None:
    wave.now = CLOSE - timedelta(hours=71, minutes=30)
    wave.remind()
    wave.now = CLOSE - timedelta(hours=23, minutes=30)
    report, sent = wave.remind()
    kinds = sorted((n.kind, n.vm_id.rsplit("/", 1)[-1], n.due) for n in report.notices)
    assert ("reminder", "sql-01", "2030-03-07T09:00:00Z") in kinds, kinds
    assert "Start sql-01 yourself by Thu 7 Mar 10:00 CET" in reminder_to(
        sent, "phone", "self_service-24h"
    )


# A record update never replaces what it knew with less.
#   GIVEN the record knew        WHEN the VM is read as          THEN the record keeps
#   advice self_service (reasons) no advice worked out            advice self_service
#   windows                       nothing planned (status gone)   its windows
#   a quietest hour still ahead   same windows, no hint looked up that quietest hour
@pytest.mark.parametrize("reading", ["unadvised", "nothing_planned", "no_hint"])
def test_a_record_update_never_knows_less(wave: WaveHarness, reading: str) -> None:
    from dataclasses import replace

    from shared.models import Advice, QuietestHour
    from shared.wave.records import MaintenanceRecord

    before = next(r for r in wave.records.all() if r.vm.name == "sql-01")
    hint = QuietestHour("2030-03-05T02:00:00Z", "2030-03-05T03:00:00Z", 3.0)
    before = replace(before, vm=replace(before.vm, quietest_hour=hint))
    vm = replace(before.vm, advice=Advice("none", []), quietest_hour=None)
    if reading == "nothing_planned":
        vm = replace(vm, maintenance=None)
    after = MaintenanceRecord.from_vm(
        vm, tracking_id=None, now="2030-03-03T00:00:00Z", previous=before
    )
    assert after.advice == "self_service"
    assert after.windows == before.windows
    if reading != "nothing_planned":
        assert after.vm.quietest_hour == hint


# Finding 2: a per-VM notice speaks for its VMs and says what remains for the receiver.


def completed(vm_id: str) -> object:
    return lambda fleet: fleet.find(vm_id).maintenance.update(
        lastOperationResultCode="MaintenanceCompleted"
    )


def vanished(vm_id: str) -> object:
    return lambda fleet: setattr(fleet.find(vm_id), "maintenance", None)


def deleted(vm_id: str) -> object:
    return lambda fleet: fleet.vms.pop(vm_id.lower())


#   GIVEN (then a sweep)           THEN the email's subject         and its lead sentence
FINDING_2 = [
    pytest.param(
        [completed(SQL_01)],
        "Maintenance done: sql-01 in eastus · 2 VMs still to do",
        "sql-01 is done. Still to do: start sql-02 by Thu 7 Mar 13:00 CET; Azure does web-01 "
        "from Thu 7 Mar 10:05 CET.",
        id="one-done-two-open",
    ),
    pytest.param(
        [vanished(WEB_01)],
        "Maintenance no longer pending: web-01 in eastus · 2 VMs still to do",
        "Azure no longer lists planned maintenance for web-01 and has not reported it "
        "completed: by Azure's FAQ, either the maintenance wave has ended or the VM already "
        "runs on an updated host. Still to do: start sql-01 and sql-02 by Thu 7 Mar 10:00 CET.",
        id="status-vanished-is-not-done",
    ),
    pytest.param(
        [deleted(SQL_02)],
        "Deleted mid-wave: sql-02 in eastus · 2 VMs still to do",
        "sql-02 was deleted; nothing is left to do for it. Still to do: start sql-01 by Thu 7 "
        "Mar 10:00 CET; Azure does web-01 from Thu 7 Mar 10:05 CET.",
        id="deleted",
    ),
    pytest.param(
        [completed(SQL_01), completed(SQL_02), completed(WEB_01)],
        "Maintenance done: sql-01, sql-02, web-01 in eastus",
        "sql-01, sql-02, web-01 are done. Nothing else of this wave is open for you: this "
        "maintenance is over.",
        id="all-done-is-over",
    ),
]


@pytest.mark.parametrize(("changes", "subject", "lead"), FINDING_2)
def test_a_per_vm_notice_names_its_vms_and_says_what_remains(
    wave: WaveHarness, changes: list[object], subject: str, lead: str
) -> None:
    for change in changes:
        change(wave.fleet)  # type: ignore[operator]
    wave.now = NOW + timedelta(hours=6)
    _, sent = wave.sweep([SUBSCRIPTION])
    [email] = [s.job.message for s in sent if s.job.receiver.name == "mail"]
    assert email.subject == subject
    assert lead in " ".join(email.text.split()), email.text
    if "over" not in lead:
        assert "over" not in email.text and "Completed:" not in email.text
        # Outside review: the notice's own line said "Complete maintenance of Virtual Machines
        # in eastus" under "2 VMs still to do"; the stage is the wave's, not these VMs'.
        assert "Complete maintenance" not in email.text, email.text
        assert "Resolved maintenance" not in email.text, email.text
        # nor its label line ("Planned maintenance · Completed"), on any channel
        for message in (s.job.message for s in sent):
            shown = message.text + json.dumps(message.payload, ensure_ascii=False)
            for stage in ("maintenance · Completed", "maintenance · Resolved"):
                assert stage not in shown, (message.channel, stage)
    # The webhook says the same as data: the open VMs, and "over" only when none remain.
    [hook] = [s.job.message.payload for s in sent if s.job.receiver.name == "hook"]
    assert hook is not None
    Draft202012Validator(WEBHOOK_SCHEMA).validate(hook)
    still_open = sorted(vm["name"] for vm in hook["summary"]["still_open"])
    assert len(still_open) == (int(subject.split(" · ")[1][0]) if " · " in subject else 0)
    assert hook["summary"]["phase"] == ("upcoming" if still_open else "done")
    # The notice's VMs never show a reboot or a deadline: they are done, deleted or cleared.
    told = set(subject.split(": ", 1)[1].split(" in ")[0].replace(",", "").split())
    for line in email.text.splitlines():
        if line.startswith("- ") and line[2:].split(" ")[0] in told:
            assert "Azure from" not in line and "start by" not in line, line
