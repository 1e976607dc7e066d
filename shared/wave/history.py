"""Records of waves that are over for their VM: what a wave told about a VM, kept after it.

A VM has one live record (shared/wave/records.py), and a VM's maintenance comes again: a
Redeploy wave months after the last one, a new VM given a deleted one's name. The later wave
starts the VM's record afresh (its own sends, claims and thread), and the record as the earlier
wave left it moves here, so that ``forewarn wave show`` and the board of that earlier wave still
list the VM and who was told what when.

    endedrecords   PartitionKey the wave's tracking id (lower case; ``-`` for none),
                   RowKey ``<subscription>|<group:name>|<first seen>``: one row per VM and
                   wave, written again unchanged when a pass is run twice

The live table is what the sweep and reminders read every pass; history never is.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from typing import Any

from shared import names
from shared.storage import EntityTable, table_key
from shared.wave.records import MaintenanceRecord, RecordUnreadableError, record_keys

NO_WAVE_PARTITION = "-"
ENDED_AT = "ended_at"  # when the record moved here (retention counts from it)


def wave_partition(tracking_id: str | None) -> str:
    return table_key((tracking_id or "").strip().lower() or NO_WAVE_PARTITION)


def history_row(record: MaintenanceRecord) -> str:
    subscription, vm = record_keys(record.vm_id)
    return table_key(f"{subscription}|{vm}|{record.first_seen}")


class WaveHistory(ABC):
    @abstractmethod
    def keep(self, records: Iterable[MaintenanceRecord], now: str) -> int:
        """Keep ``records`` as their waves left them; return how many."""

    @abstractmethod
    def of_wave(self, tracking_id: str | None) -> list[MaintenanceRecord]: ...

    @abstractmethod
    def all(self) -> Iterator[MaintenanceRecord]: ...


class InMemoryWaveHistory(WaveHistory):
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], MaintenanceRecord] = {}

    def keep(self, records: Iterable[MaintenanceRecord], now: str) -> int:
        kept = 0
        for record in records:
            self.rows[(wave_partition(record.tracking_id), history_row(record))] = record
            kept += 1
        return kept

    def of_wave(self, tracking_id: str | None) -> list[MaintenanceRecord]:
        wanted = wave_partition(tracking_id)
        return [record for (wave, _), record in sorted(self.rows.items()) if wave == wanted]

    def all(self) -> Iterator[MaintenanceRecord]:
        yield from (record for _, record in sorted(self.rows.items()))


class TableWaveHistory(WaveHistory):
    """Entities in ``names.TABLE_ENDED_RECORDS``; unreadable ones are skipped."""

    table_name = names.TABLE_ENDED_RECORDS

    def __init__(self, table: EntityTable) -> None:
        self._table = table

    def keep(self, records: Iterable[MaintenanceRecord], now: str) -> int:
        partitions: dict[str, dict[str, dict[str, Any]]] = {}
        for record in records:
            entity = {**record.to_entity(), ENDED_AT: now}
            partitions.setdefault(wave_partition(record.tracking_id), {})[history_row(record)] = (
                entity
            )
        for partition, rows in partitions.items():
            self._table.upsert_many(partition, rows)
        return sum(len(rows) for rows in partitions.values())

    def _parsed(self, entities: Iterator[dict[str, Any]]) -> Iterator[MaintenanceRecord]:
        for entity in entities:
            try:
                yield MaintenanceRecord.from_entity(entity)
            except RecordUnreadableError:
                continue  # one odd row must not hide a wave's others

    def of_wave(self, tracking_id: str | None) -> list[MaintenanceRecord]:
        return list(self._parsed(self._table.query(wave_partition(tracking_id))))

    def all(self) -> Iterator[MaintenanceRecord]:
        return self._parsed(self._table.query())
