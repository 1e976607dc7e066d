"""Rows that expire: each table's retention, on real Azurite tables and blobs.

The pass reads the service's own ``Timestamp``, so the rows are written now and the pass is
run at a later moment. Each test gets its own tables (a prefix before every name): the pass
at "now + a year" must not touch the tables other tests share.

GIVEN a row in every table, written now (a closed record and an open one; a silence ending in
10 days and one in 500; the catch-up's checkpoint; a dead letter with its job's blob)
WHEN the retention pass runs at
THEN these are gone (and everything else is still there):

    | run at    | gone                                                                      |
    | now + 1 d | nothing                                                                   |
    | now + 3 d | instanceviews                                                             |
    | now + 8 d | + eventgroups                                                             |
    | now + 31 d| + actionsused                                                             |
    | now + 91 d| + acceptedevents, idempotency, deliverylog, deadletter (and its blob),     |
    |           |   the catch-up's recovered row (not its checkpoint); the closed record     |
    |           |   moves to endedrecords                                                    |
    | now +101 d| + the silence that ended at 10 d                                          |
    | now +366 d| + messagerefs, actionaudit                                                |
"""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared import names
from shared.cli import main
from shared.enrich.instance_view import VmRef, to_virtual_machine
from shared.retention import (
    RetentionSettingError,
    RetentionSettings,
    tidy,
)
from shared.standins.arm_fleet import FleetVm, window_from
from shared.storage import EntityTable, PayloadMissingError, StorageServices
from shared.timeutil import format_utc
from shared.wave.history import TableWaveHistory
from shared.wave.records import MaintenanceRecord, TableRecordStore
from shared.wave.silences import Silence, TableSilenceStore
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
SUB = "5f2d7a5e-0d1a-4bd5-9d43-6a3c1b0e8f11"
BY_WRITE = [
    names.TABLE_INSTANCE_VIEWS,
    names.TABLE_EVENT_GROUPS,
    names.TABLE_ACTIONS_USED,
    names.TABLE_ACCEPTED,
    names.TABLE_IDEMPOTENCY,
    names.TABLE_DELIVERY_LOG,
    names.TABLE_MESSAGE_REFS,
    names.TABLE_ACTION_AUDIT,
]
CASES = [
    (1, set()),
    (3, {names.TABLE_INSTANCE_VIEWS}),
    (8, {names.TABLE_INSTANCE_VIEWS, names.TABLE_EVENT_GROUPS}),
    (31, {names.TABLE_INSTANCE_VIEWS, names.TABLE_EVENT_GROUPS, names.TABLE_ACTIONS_USED}),
]
OPERATIONAL = {
    names.TABLE_INSTANCE_VIEWS,
    names.TABLE_EVENT_GROUPS,
    names.TABLE_ACTIONS_USED,
    names.TABLE_ACCEPTED,
    names.TABLE_IDEMPOTENCY,
    names.TABLE_DELIVERY_LOG,
    "deadletter",
    "recovered",
    "closed record",
}
CASES += [
    (91, OPERATIONAL),
    (101, OPERATIONAL | {"silence 10 d"}),
    (366, OPERATIONAL | {"silence 10 d", names.TABLE_MESSAGE_REFS, names.TABLE_ACTION_AUDIT}),
]


def record(name: str, status: str) -> MaintenanceRecord:
    fleet_vm = FleetVm(SUB, "rg-app", name, maintenance=window_from(NOW))
    vm = to_virtual_machine(VmRef(fleet_vm.id), fleet_vm.model(), fleet_vm.instance_view())
    made = MaintenanceRecord.from_vm(vm, tracking_id="WAVE-1", now=format_utc(NOW))
    return replace(made, status=status)  # type: ignore[arg-type]


class World:
    def __init__(self, storage: StorageServices) -> None:
        self.storage = storage
        self.prefix = f"t{uuid.uuid4().hex[:8]}"

    def table(self, name: str) -> EntityTable:
        return self.storage.table(f"{self.prefix}{name}")

    def fill(self) -> None:
        for name in BY_WRITE:
            self.table(name).upsert("p", "r", {"x": 1})
        self.storage.payloads.put(f"{self.prefix}/job.json", b"{}")
        self.table(names.TABLE_DEAD_LETTER).upsert(
            "deadletter", "d1", {"job_ref": f"{self.prefix}/job.json"}
        )
        self.table(names.TABLE_CATCHUP).upsert("checkpoint", "activity", {"until": "x"})
        self.table(names.TABLE_CATCHUP).upsert("recovered", "evt-1", {"x": 1})
        silences = TableSilenceStore(self.table(names.TABLE_SILENCES))
        for silence_id, days in (("ends-10", 10), ("ends-500", 500)):
            ends = format_utc(NOW + timedelta(days=days))
            silences.put(Silence(silence_id, {"vm": "app-*"}, format_utc(NOW), ends))
        records = TableRecordStore(self.table(names.TABLE_MAINTENANCE_RECORDS))
        records.put(record("done-1", "completed"))
        records.put(record("open-1", "pending"))

    def present(self) -> set[str]:
        found = {name for name in BY_WRITE if self.table(name).get("p", "r") is not None}
        if self.table(names.TABLE_DEAD_LETTER).get("deadletter", "d1") is not None:
            found.add("deadletter")
        try:
            self.storage.payloads.get(f"{self.prefix}/job.json")
            found.add("job blob")
        except PayloadMissingError:
            pass
        if self.table(names.TABLE_CATCHUP).get("checkpoint", "activity") is not None:
            found.add("checkpoint")
        if self.table(names.TABLE_CATCHUP).get("recovered", "evt-1") is not None:
            found.add("recovered")
        silences = {s.id for s in TableSilenceStore(self.table(names.TABLE_SILENCES)).all()}
        found |= {f"silence {id_.split('-')[1]} d" for id_ in silences}
        records = TableRecordStore(self.table(names.TABLE_MAINTENANCE_RECORDS))
        live = {r.vm.name for r in records.all()}
        if "done-1" in live:
            found.add("closed record")
        if "open-1" in live:
            found.add("open record")
        return found


EVERYTHING = {
    *BY_WRITE,
    "deadletter",
    "job blob",
    "checkpoint",
    "recovered",
    "silence 10 d",
    "silence 500 d",
    "closed record",
    "open record",
}


@pytest.fixture
def world(azurite: Azurite) -> World:
    storage = StorageServices.from_settings({names.STORAGE_CONNECTION: azurite.connection_string})
    made = World(storage)
    made.fill()
    return made


@pytest.mark.parametrize(("days", "gone"), CASES, ids=[f"+{days}d" for days, _ in CASES])
def test_each_table_keeps_its_rows_as_long_as_its_retention(
    world: World, days: int, gone: set[str]
) -> None:
    report = tidy(world.table, world.storage.payloads, NOW + timedelta(days=days))
    expected_gone = set(gone) | ({"job blob"} if "deadletter" in gone else set())
    assert world.present() == EVERYTHING - expected_gone
    assert report.failed == []
    if "closed record" in gone:
        # THEN the board of its wave still lists it: it moved, it was not lost.
        ended = TableWaveHistory(world.table(names.TABLE_ENDED_RECORDS)).of_wave("WAVE-1")
        assert [r.vm.name for r in ended] == ["done-1"]
        assert report.records_ended == 1


def test_a_pass_deletes_a_bounded_batch_and_the_next_goes_on(world: World) -> None:
    table = world.table(names.TABLE_ACCEPTED)
    for index in range(7):
        table.upsert(f"evt-{index}", "accepted", {"x": index})  # one partition per event
    later = NOW + timedelta(days=91)
    first = tidy(world.table, None, later, limit=5)
    assert first.deleted[names.TABLE_ACCEPTED] == 5
    second = tidy(world.table, None, later, limit=5)
    assert second.deleted[names.TABLE_ACCEPTED] == 3  # the 2 left, and the row of fill()
    assert list(table.query()) == []


def test_audit_retention_is_a_setting(world: World) -> None:
    settings = RetentionSettings.from_settings({names.SETTING_AUDIT_RETENTION_DAYS: "730"})
    tidy(world.table, None, NOW + timedelta(days=366), settings)
    assert names.TABLE_ACTION_AUDIT in world.present()
    tidy(world.table, None, NOW + timedelta(days=731), settings)
    assert names.TABLE_ACTION_AUDIT not in world.present()


@pytest.mark.parametrize("value", ["ninety", "7", "0", "-1", "99999"])
def test_a_retention_setting_out_of_range_is_refused(value: str) -> None:
    with pytest.raises(RetentionSettingError, match=names.SETTING_RETENTION_DAYS):
        RetentionSettings.from_settings({names.SETTING_RETENTION_DAYS: value})


def test_open_records_never_crowd_the_closed_ones_out_of_a_batch(world: World) -> None:
    # GIVEN more open records unchanged for months than a batch holds (a long wave)
    records = TableRecordStore(world.table(names.TABLE_MAINTENANCE_RECORDS))
    for index in range(4):
        records.put(record(f"aa-open-{index}", "pending"))  # listed before "done-1"
    # WHEN a pass of 2 rows per table runs; THEN the closed record moves all the same
    report = tidy(world.table, None, NOW + timedelta(days=91), limit=2)
    assert report.records_ended == 1
    live = {r.vm.name for r in records.all()}
    assert "done-1" not in live and {"open-1", "aa-open-0"} <= live


# `forewarn retention --dry-run`: the same pass, counting what it would delete.
@pytest.mark.parametrize(("days", "gone"), CASES, ids=[f"+{days}d" for days, _ in CASES])
def test_a_dry_run_counts_what_the_pass_would_delete_and_deletes_nothing(
    world: World, days: int, gone: set[str]
) -> None:
    # GIVEN a row in every table; WHEN the pass is previewed at now + days
    report = tidy(world.table, world.storage.payloads, NOW + timedelta(days=days), dry_run=True)
    # THEN nothing is gone, and each table counts the rows a pass would delete there
    assert world.present() == EVERYTHING
    assert report.dry_run and report.failed == []
    counted = {name for name, count in report.deleted.items() if count}
    by_name = {"deadletter": names.TABLE_DEAD_LETTER, "recovered": names.TABLE_CATCHUP}
    by_name |= {"silence 10 d": names.TABLE_SILENCES}
    by_name |= {"closed record": names.TABLE_MAINTENANCE_RECORDS}
    assert counted == {by_name.get(item, item) for item in gone}
    assert all(count == 1 for count in report.deleted.values())
    assert TableWaveHistory(world.table(names.TABLE_ENDED_RECORDS)).of_wave("WAVE-1") == []


def _retention(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["retention", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_previews_and_runs_one_pass_on_the_shared_tables(
    azurite: Azurite, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(names.STORAGE_CONNECTION, azurite.connection_string)
    # GIVEN an instance view cached now (the tables are the session's: others' rows too)
    storage = StorageServices.from_settings({names.STORAGE_CONNECTION: azurite.connection_string})
    views = storage.table(names.TABLE_INSTANCE_VIEWS)
    partition = f"p{uuid.uuid4().hex[:8]}"
    views.upsert(partition, "r", {"x": 1})
    # WHEN previewed 3 days on THEN the row is counted, and still there
    later = format_utc(NOW + timedelta(days=3))
    code, out, _ = _retention(capsys, "--dry-run", "--json", "--now", later)
    assert code == 0
    preview = json.loads(out)
    assert (preview["dry_run"], preview["now"], preview["failed"]) == (True, later, [])
    assert preview["tables"][names.TABLE_INSTANCE_VIEWS] >= 1
    assert set(preview["tables"]) >= {names.TABLE_ACCEPTED, names.TABLE_MAINTENANCE_RECORDS}
    assert views.get(partition, "r") is not None
    # WHEN a pass runs now (nothing written this session has expired) THEN it says so per table
    code, out, _ = _retention(capsys)
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("rows deleted at ")
    assert f"  {names.TABLE_INSTANCE_VIEWS}" in out and views.get(partition, "r") is not None
    assert all(line.split()[-1] == "0" for line in lines[1:])
    # AND a pass at another moment than now is refused: it would delete rows still in use
    code, _, err = _retention(capsys, "--now", later)
    assert code == 2 and "--now only with --dry-run" in err
