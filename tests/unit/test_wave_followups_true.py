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

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes.arm_fleet import Fleet, FleetVm, maintenance_event, redeploy_status
from tests.support.wave_harness import Sent, WaveHarness, wave_harness

NOW = datetime(2030, 3, 2, 9, tzinfo=UTC)
SUBSCRIPTION = "00000000-0000-0000-0000-00000000a001"
CLOSE = NOW + timedelta(days=5)  # sql-01's self-service window closes: Thu 7 Mar 10:00 CET


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
    _, _, rest = email.partition("Start yourself (1)\n")
    assert rest.startswith("- sql-01 (rg-data) · start by Thu 7 Mar 10:00 CET"), email
    assert "No action needed" not in email
    assert "Advice: Start it yourself in the self-service window" in email
    sms = reminder_to(sent, "phone", "self_service-72h")
    assert sms.startswith("Start sql-01 yourself by Thu 7 Mar 10:00 CET"), sms
    record = wave.records.get(
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/rg-data/providers/Microsoft.Compute/virtualMachines/sql-01"
    )
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
