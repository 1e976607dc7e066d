"""The per-VM maintenance record: what forewarn knows and has said about one VM's maintenance.

One record per VM (partition: subscription, row: ``group:name``, lower-cased, as the
instance-view cache keys it). Enrichment writes it when a notice names the VM (what a notice
writes: shared/wave/announcements.py); the sweep and the reminders update it. It keeps the
last ``VirtualMachine`` seen, so that a notice about a VM that has since been deleted still
routes by its tags and resource group.

    status         meaning
    pending        maintenance planned, not done
    rescheduled    its windows changed since people were told (still to be done)
    self_service_started  someone started it (the Administrative alert: started.py); the
                   sweep still follows it, the reminders stop
    completed      maintenance information gone, or the last result says it completed
    gone           the VM was deleted mid-wave

    RecordError
    └── RecordUnreadableError   a stored entity does not parse (skipped, never fatal)
"""

from __future__ import annotations

import json
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from shared import names
from shared.models import (
    Advice,
    AdviceReason,
    TimeWindow,
    VirtualMachine,
    plain,
)
from shared.parsing.resource_id import parse_vm_id
from shared.storage import EntityTable

RecordStatus = Literal["pending", "rescheduled", "self_service_started", "completed", "gone"]
OPEN_STATUSES: frozenset[str] = frozenset({"pending", "rescheduled", "self_service_started"})
# An entity property holds at most 64 KiB: the newest sends are kept, the oldest dropped.
MAX_SENT_KEPT = 40


class RecordError(Exception):
    """Base class of maintenance-record failures."""


class RecordUnreadableError(RecordError):
    """A stored record does not parse."""


@dataclass(frozen=True)
class SentNotice:
    """One message kind that went out about this VM: ``key`` makes each one happen once."""

    key: str  # e.g. "announced:<event id>", "reminder:self_service:72h:<window end>"
    kind: str  # announced, vm_added, rescheduled, completed, gone, reminder
    notice_id: str  # the event id it was routed under (the delivery idempotency key's half)
    at: str
    receivers: list[str] = field(default_factory=list)
    # Which of Azure's notices (its stage; "recovered" when the catch-up brought it): the
    # board tells a wave's Planned and Rescheduled notices apart. Empty in older rows. Then
    # ABOUT_TRACKING and the tracking id it came under (none in rows older than that).
    about: str = ""


ABOUT_TRACKING = "; tracking "


@dataclass(frozen=True)
class MaintenanceRecord:
    vm_id: str
    subscription_id: str
    tracking_id: str | None
    self_service_window: TimeWindow
    scheduled_window: TimeWindow
    allowed_now: bool
    last_result: str | None
    advice: str
    status: RecordStatus
    vm: VirtualMachine
    first_seen: str
    updated_at: str
    sent: tuple[SentNotice, ...] = ()

    @classmethod
    def from_vm(
        cls,
        vm: VirtualMachine,
        *,
        tracking_id: str | None,
        now: str,
        status: RecordStatus = "pending",
        previous: MaintenanceRecord | None = None,
    ) -> MaintenanceRecord:
        """The record of ``vm`` as just read; history (first seen, sends) kept from ``previous``.

        A reading never makes the record know less (issue 16): a VM read without advice keeps
        the advice it had, a hint that was not looked up again is kept while the windows are
        the same, and a VM with nothing planned keeps the windows it had."""
        if previous is not None:
            vm = _knowing(vm, previous, now)
        status_now = vm.maintenance
        return cls(
            vm_id=vm.id,
            subscription_id=vm.subscription_id.lower(),
            tracking_id=tracking_id or (previous.tracking_id if previous else None),
            self_service_window=status_now.self_service_window
            if status_now
            else (previous.self_service_window if previous else EMPTY_WINDOW),
            scheduled_window=status_now.scheduled_window
            if status_now
            else (previous.scheduled_window if previous else EMPTY_WINDOW),
            allowed_now=bool(status_now and status_now.self_service_allowed),
            last_result=status_now.last_result_code if status_now else None,
            advice=vm.advice.action,
            status=status,
            vm=vm,
            first_seen=previous.first_seen if previous else now,
            updated_at=now,
            sent=previous.sent if previous else (),
        )

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def windows(self) -> tuple[str | None, str | None, str | None, str | None]:
        return (
            self.self_service_window.start,
            self.self_service_window.end,
            self.scheduled_window.start,
            self.scheduled_window.end,
        )

    def has_sent(self, key: str) -> bool:
        return any(notice.key == key for notice in self.sent)

    def with_sent(self, notice: SentNotice) -> MaintenanceRecord:
        if self.has_sent(notice.key):
            return self
        return replace(self, sent=(*self.sent, notice)[-MAX_SENT_KEPT:])

    # -- storage shape ---------------------------------------------------------------------

    def to_entity(self) -> dict[str, Any]:
        return {
            "vm_id": self.vm_id,
            "subscription_id": self.subscription_id,
            "tracking_id": self.tracking_id or "",
            "self_service_start": self.self_service_window.start or "",
            "self_service_end": self.self_service_window.end or "",
            "scheduled_start": self.scheduled_window.start or "",
            "scheduled_end": self.scheduled_window.end or "",
            "allowed_now": self.allowed_now,
            "last_result": self.last_result or "",
            "advice": self.advice,
            "status": self.status,
            "vm": json.dumps(self.vm.to_json(), separators=(",", ":")),
            "first_seen": self.first_seen,
            "updated_at": self.updated_at,
            "sent": json.dumps([plain(notice) for notice in self.sent], separators=(",", ":")),
        }

    @classmethod
    def from_entity(cls, entity: dict[str, Any]) -> MaintenanceRecord:
        try:
            return cls(
                vm_id=str(entity["vm_id"]),
                subscription_id=str(entity["subscription_id"]),
                tracking_id=str(entity.get("tracking_id") or "") or None,
                self_service_window=TimeWindow(
                    entity.get("self_service_start") or None, entity.get("self_service_end") or None
                ),
                scheduled_window=TimeWindow(
                    entity.get("scheduled_start") or None, entity.get("scheduled_end") or None
                ),
                allowed_now=bool(entity.get("allowed_now")),
                last_result=str(entity.get("last_result") or "") or None,
                advice=str(entity.get("advice") or "none"),
                status=entity["status"],
                vm=VirtualMachine.from_json(json.loads(entity["vm"])),
                first_seen=str(entity["first_seen"]),
                updated_at=str(entity["updated_at"]),
                sent=tuple(SentNotice(**item) for item in json.loads(entity.get("sent") or "[]")),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise RecordUnreadableError(f"record {entity.get('RowKey')!r}: {error}") from error


EMPTY_WINDOW = TimeWindow(None, None)


def _knowing(vm: VirtualMachine, previous: MaintenanceRecord, now: str) -> VirtualMachine:
    """``vm`` with what ``previous`` knew and this reading did not work out."""
    known = previous.vm
    same_windows = (
        vm.maintenance is not None
        and known.maintenance is not None
        and vm.maintenance.self_service_window == known.maintenance.self_service_window
        and vm.maintenance.scheduled_window == known.maintenance.scheduled_window
    )
    if not vm.advice.reasons and known.advice.reasons:
        # Never advised (no reasons at all): an advised VM's advice always gives one.
        vm = replace(vm, advice=known.advice)
    hint = known.quietest_hour
    if vm.quietest_hour is None and hint is not None and same_windows and hint.start > now:
        # Both ISO 8601 UTC with "Z": their order is the moments' order.
        vm = replace(vm, quietest_hour=hint)
    return vm


def record_keys(vm_id: str) -> tuple[str, str]:
    """Table keys may not hold "/": subscription as partition, "group:name" as row."""
    vm = parse_vm_id(vm_id)
    if vm is None:
        raise RecordUnreadableError(f"not a VM resource id: {vm_id!r}")
    return vm.subscription_id.lower(), f"{vm.resource_group}:{vm.name}".lower()


# --------------------------------------------------------------------------------------
# The repository


class RecordStore(ABC):
    @abstractmethod
    def get(self, vm_id: str) -> MaintenanceRecord | None: ...

    @abstractmethod
    def put(self, record: MaintenanceRecord) -> None: ...

    def put_many(self, records: list[MaintenanceRecord]) -> None:
        """Write many records; a table store sends them a partition at a time, batched."""
        for record in records:
            self.put(record)

    @abstractmethod
    def of_subscription(self, subscription: str) -> list[MaintenanceRecord]: ...

    @abstractmethod
    def all(self) -> Iterator[MaintenanceRecord]: ...

    def subscriptions(self) -> list[str]:
        """Subscriptions that had a notice: the sweep watches them."""
        return sorted({record.subscription_id for record in self.all()})


class InMemoryRecordStore(RecordStore):
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], MaintenanceRecord] = {}
        self.writes = 0
        self._lock = threading.Lock()

    def get(self, vm_id: str) -> MaintenanceRecord | None:
        return self.records.get(record_keys(vm_id))

    def put(self, record: MaintenanceRecord) -> None:
        with self._lock:
            self.records[record_keys(record.vm_id)] = record
            self.writes += 1

    def of_subscription(self, subscription: str) -> list[MaintenanceRecord]:
        wanted = subscription.lower()
        return [r for (pk, _), r in sorted(self.records.items()) if pk == wanted]

    def all(self) -> Iterator[MaintenanceRecord]:
        yield from (record for _, record in sorted(self.records.items()))


class TableRecordStore(RecordStore):
    """Entities in ``names.TABLE_MAINTENANCE_RECORDS``; unreadable ones are skipped."""

    table_name = names.TABLE_MAINTENANCE_RECORDS

    def __init__(self, table: EntityTable) -> None:
        self._table = table

    def get(self, vm_id: str) -> MaintenanceRecord | None:
        entity = self._table.get(*record_keys(vm_id))
        return MaintenanceRecord.from_entity(entity) if entity is not None else None

    def put(self, record: MaintenanceRecord) -> None:
        self._table.upsert(*record_keys(record.vm_id), record.to_entity())

    def put_many(self, records: list[MaintenanceRecord]) -> None:
        if len(records) <= 1:
            for record in records:
                self.put(record)
            return
        partitions: dict[str, dict[str, dict[str, Any]]] = {}
        for record in records:
            partition, row = record_keys(record.vm_id)
            # The same VM twice: the later record wins, as two puts in turn would leave it.
            partitions.setdefault(partition, {})[row] = record.to_entity()
        for partition, rows in partitions.items():
            self._table.upsert_many(partition, rows)

    def _parsed(self, entities: Iterator[dict[str, Any]]) -> Iterator[MaintenanceRecord]:
        for entity in entities:
            try:
                yield MaintenanceRecord.from_entity(entity)
            except RecordUnreadableError:
                # One odd row (hand-edited, an older shape) must not stop a sweep of the rest.
                continue

    def of_subscription(self, subscription: str) -> list[MaintenanceRecord]:
        return list(self._parsed(self._table.query(subscription.lower())))

    def all(self) -> Iterator[MaintenanceRecord]:
        return self._parsed(self._table.query())


# --------------------------------------------------------------------------------------
# Written by the enrichment of Azure's notices: shared/wave/announcements.py

COMPLETED_RESULT = "MaintenanceCompleted"  # lastOperationResultCode once it is done


def put_all(store: RecordStore, records: list[MaintenanceRecord]) -> None:
    """Write many records: on a table, a transaction per 100 of one subscription (each round
    trip costs the same whether it carries one entity or a hundred)."""
    store.put_many(records)


def slim(vm: VirtualMachine) -> VirtualMachine:
    """What "still to do" and routing read of a VM (advice action, windows, tags), without the
    reasons, facts and hints that make up most of its JSON: a wave of thousands rides along."""
    advice = Advice(vm.advice.action, [], vm.advice.self_service_advised)
    return replace(vm, advice=advice, quietest_hour=None)


# Advice reason a follow-up's "still to do" reads to say a VM is under way (render/followup.py).
STARTED_REASON = "self_service_started"


def remaining_vm(record: MaintenanceRecord) -> VirtualMachine:
    """An open record's VM as a follow-up's "still to do" reads it. One whose maintenance
    someone started carries that as its only reason: it is under way, not one to start."""
    vm = slim(record.vm)
    if record.status != "self_service_started":
        return vm
    reason = AdviceReason(
        STARTED_REASON, "Someone started its maintenance; Azure has not reported it done yet"
    )
    return replace(vm, advice=replace(vm.advice, reasons=[reason]))
