"""The board's "told" column names each of Azure's notices a VM was told, so that two are never
two identical rows (the last session's review: "Azure's notice" listed twice when the catch-up
recovered a notice of the wave).

Real parts: the stand-in ARM on 127.0.0.1, the enrich stage writing the records, the board and
``forewarn wave show``'s text drawn from them (tests/support/wave_harness.py).

    GIVEN wave TRK-T: Azure's Planned notice came by the webhook
    WHEN  the catch-up recovers the wave's Rescheduled notice (no webhook brought it)
    THEN  each VM's told rows read
          | Azure's notice (Planned)                                  |
          | Azure's notice (Rescheduled, recovered by the catch-up)   |
          and the truth oracle finds no two told rows alike
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.render.text import ReaderClock
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, redeploy_status
from shared.wave.board import build_board
from shared.wave.claims import Ownership
from tests.support.truth_oracle import board_told_untrue
from tests.support.wave_harness import WaveHarness, wave_harness

NOW = datetime(2030, 3, 2, 9, tzinfo=UTC)
SUBSCRIPTION = "00000000-0000-0000-0000-00000000c001"
CLOSE = NOW + timedelta(days=5)


@pytest.fixture
def wave() -> Iterator[WaveHarness]:
    status = redeploy_status(
        NOW - timedelta(days=1), CLOSE, CLOSE + timedelta(minutes=5), CLOSE + timedelta(hours=8)
    )
    fleet = Fleet().add(
        FleetVm(SUBSCRIPTION, "rg-data", "sql-01", maintenance=dict(status)),
        FleetVm(SUBSCRIPTION, "rg-data", "sql-02", maintenance=dict(status)),
    )
    with wave_harness(fleet, NOW) as harness:
        harness.notice(maintenance_event([SUBSCRIPTION], tracking_id="TRK-T"))
        yield harness


def test_each_of_azures_notices_is_its_own_told_row(wave: WaveHarness) -> None:
    from shared.cli.wave_command import board_lines

    rescheduled = maintenance_event([SUBSCRIPTION], tracking_id="TRK-T", stage="Rescheduled")
    recovered = replace(rescheduled, event_id=f"{rescheduled.event_id}-r", recovered=True)
    wave.now += timedelta(minutes=20)
    wave.notice(recovered)
    board = build_board("TRK-T", wave.records.all(), Ownership(), wave.now)
    for vm in board.vms:
        assert [row.what for row in vm.told] == [
            "Azure's notice (Planned)",
            "Azure's notice (Rescheduled, recovered by the catch-up)",
        ], vm.name
    text = "\n".join(board_lines(board, ReaderClock(ZoneInfo("Europe/Paris"), "en", wave.now)))
    assert "Azure's notice (Rescheduled, recovered by the catch-up)" in text
    assert not board_told_untrue(board)


# The sibling: the board's told row for a started maintenance says what its message said,
# "maintenance completed" when the message was headed "Maintenance completed: sql-01".
#   GIVEN wave TRK-T; WHEN Alice's Start from the message ends with sql-01 done
#   THEN sql-01's last told row reads "maintenance completed", and the message's heading agrees
def test_a_started_maintenances_told_row_says_what_its_message_said(wave: WaveHarness) -> None:
    from shared.start.desk import StartOutcome, StartRequest
    from shared.start.notice import outcome_event

    sql_01 = next(vm for vm in wave.fleet.vms.values() if vm.name == "sql-01")
    request = StartRequest("TRK-T", "step 1", (sql_01.id,), "mail", "alice@contoso.com")
    outcome = StartOutcome(
        "Succeeded",
        "Maintenance of step 1 completed. sql-01: maintenance completed; last result "
        "MaintenanceCompleted.",
        {sql_01.id: "MaintenanceCompleted"},
        results={sql_01.id: "Succeeded"},
    )
    event = outcome_event(request, outcome, wave.now)
    assert event is not None
    sent = wave.notice(event)
    assert sent[0].job.message.subject.startswith("Maintenance completed: sql-01")
    board = build_board("TRK-T", wave.records.all(), Ownership(), wave.now)
    [row] = [vm for vm in board.vms if vm.name == "sql-01"]
    assert row.told[-1].what == "maintenance completed (started from a message)"
    assert not board_told_untrue(board)


# Issue: a wave Azure re-issued under a new tracking id keeps its open VMs' records (the same
# work), so the new wave's board lists the earlier notice; it names the id it came under, the
# id a person finds it by in the Azure portal.
#   GIVEN wave TRK-T: Azure's Planned notice
#   WHEN  Azure re-issues the wave as TRK-U (a Rescheduled notice)
#   THEN  the board of TRK-U reads
#         | Azure's notice (Planned, under tracking id TRK-T) |
#         | Azure's notice (Rescheduled)                      |
#         and the truth oracle finds no notice of another wave left unnamed
def test_a_re_issued_waves_earlier_notice_names_its_tracking_id(wave: WaveHarness) -> None:
    from shared.cli.wave_command import board_lines

    wave.now += timedelta(minutes=20)
    wave.notice(maintenance_event([SUBSCRIPTION], tracking_id="TRK-U", stage="Rescheduled"))
    board = build_board("TRK-U", wave.records.all(), Ownership(), wave.now)
    for vm in board.vms:
        assert [row.what for row in vm.told] == [
            "Azure's notice (Planned, under tracking id TRK-T)",
            "Azure's notice (Rescheduled)",
        ], vm.name
    text = "\n".join(board_lines(board, ReaderClock(ZoneInfo("Europe/Paris"), "en", wave.now)))
    assert "under tracking id TRK-T" in text
    assert not board_told_untrue(board)
