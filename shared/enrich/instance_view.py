"""A VM's model and instance view, read from ARM (or a short-lived cache), as a ``VirtualMachine``.

The model (``GET …/virtualMachines/{vm}``) says where a VM sits: availability set, scale set,
zone, size, tags, OS disk. The instance view says what is happening to it: power state, update
and fault domain, and ``maintenanceRedeployStatus``, which is absent when nothing is planned.

Each subscription gets its own Service Health alert for a wave, the same VM can be named again
by a Resource Health event, and a retried queue message reads everything again: so every read
is kept for a few minutes in an ``InstanceViewCache`` (Azure Table ``instanceviews`` in
production, a dict in tests). Only the fields forewarn uses are kept, which keeps an entity
far below the Table limits. A notice's VMs are looked up and stored a subscription at a time
(``get_many``, ``put_many``): a few round trips per notice rather than one per VM; a
``CacheKeeper`` stores them while the rest are still being read.
"""

from __future__ import annotations

import json
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from shared import names
from shared.enrich.arm import ArmClient, api_version
from shared.enrich.errors import MalformedResourceIdError
from shared.enrich.pacing import Operation
from shared.models import MaintenanceStatus, TimeWindow, VirtualMachine
from shared.parsing.resource_id import VmId, parse_vm_id
from shared.storage import TRANSACTION_ROWS, EntityTable, StorageError
from shared.timeutil import Clock, format_utc, normalise_timestamp, parse_utc, utc_now

DEFAULT_CACHE_TTL = timedelta(minutes=5)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VmRef:
    """A VM named by discovery; ``model`` is set when a list already returned it.

    ``id`` must be a well-formed VM id (or a child of one, which names that VM): anything else
    raises ``MalformedResourceIdError``, so no ``VmRef`` can point a read somewhere odd.
    """

    id: str
    location: str | None = None
    model: dict[str, Any] | None = None
    vm: VmId = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        vm = parse_vm_id(self.id)
        if vm is None:
            raise MalformedResourceIdError(f"not a VM resource id: {self.id!r}")
        object.__setattr__(self, "vm", vm)
        object.__setattr__(self, "id", vm.id)

    @property
    def subscription_id(self) -> str:
        return self.vm.subscription_id

    @property
    def resource_group(self) -> str:
        return self.vm.resource_group

    @property
    def name(self) -> str:
        return self.vm.name


# --------------------------------------------------------------------------------------
# JSON -> VirtualMachine (pure)


def maintenance_status(instance_view: dict[str, Any]) -> MaintenanceStatus | None:
    """``maintenanceRedeployStatus`` with its times in UTC; ``None`` when nothing is planned."""
    raw = instance_view.get("maintenanceRedeployStatus")
    if not raw:
        return None
    return MaintenanceStatus(
        self_service_allowed=raw.get("isCustomerInitiatedMaintenanceAllowed") is True,
        self_service_window=TimeWindow(
            normalise_timestamp(raw.get("preMaintenanceWindowStartTime")),
            normalise_timestamp(raw.get("preMaintenanceWindowEndTime")),
        ),
        scheduled_window=TimeWindow(
            normalise_timestamp(raw.get("maintenanceWindowStartTime")),
            normalise_timestamp(raw.get("maintenanceWindowEndTime")),
        ),
        last_result_code=raw.get("lastOperationResultCode"),
        last_message=raw.get("lastOperationMessage"),
    )


def power_state(instance_view: dict[str, Any]) -> str | None:
    for status in instance_view.get("statuses") or []:
        code = str(status.get("code") or "")
        if code.startswith("PowerState/"):
            return code.split("/", 1)[1]
    return None


def to_virtual_machine(
    ref: VmRef, model: dict[str, Any] | None, instance_view: dict[str, Any]
) -> VirtualMachine:
    model = model or {}
    properties = model.get("properties") or {}
    zones = model.get("zones") or []
    return VirtualMachine(
        id=model.get("id") or ref.id,
        name=model.get("name") or ref.name,
        subscription_id=ref.subscription_id,
        resource_group=ref.resource_group,
        location=model.get("location") or ref.location or "",
        power_state=power_state(instance_view),
        size=(properties.get("hardwareProfile") or {}).get("vmSize"),
        zone=str(zones[0]) if zones else None,
        update_domain=instance_view.get("platformUpdateDomain"),
        fault_domain=instance_view.get("platformFaultDomain"),
        availability_set=(properties.get("availabilitySet") or {}).get("id"),
        scale_set=(properties.get("virtualMachineScaleSet") or {}).get("id"),
        tags={str(key): str(value) for key, value in (model.get("tags") or {}).items()},
        maintenance=maintenance_status(instance_view),
    )


def has_ephemeral_os_disk(model: dict[str, Any] | None) -> bool:
    os_disk = (((model or {}).get("properties") or {}).get("storageProfile") or {}).get("osDisk")
    settings = (os_disk or {}).get("diffDiskSettings") or {}
    return str(settings.get("option", "")).lower() == "local"


def _trim_model(model: dict[str, Any]) -> dict[str, Any]:
    properties = model.get("properties") or {}
    storage = properties.get("storageProfile") or {}
    keep = ("hardwareProfile", "availabilitySet", "virtualMachineScaleSet")
    trimmed_properties = {key: properties[key] for key in keep if properties.get(key)}
    diff = (storage.get("osDisk") or {}).get("diffDiskSettings")
    if diff:
        trimmed_properties["storageProfile"] = {"osDisk": {"diffDiskSettings": diff}}
    return {
        **{key: model[key] for key in ("id", "name", "location", "zones", "tags") if key in model},
        "properties": trimmed_properties,
    }


def _trim_instance_view(view: dict[str, Any]) -> dict[str, Any]:
    keep = ("platformUpdateDomain", "platformFaultDomain", "maintenanceRedeployStatus")
    trimmed = {key: view[key] for key in keep if key in view}
    trimmed["statuses"] = [
        {"code": s.get("code")}
        for s in view.get("statuses") or []
        if str(s.get("code", "")).startswith("PowerState/")
    ]
    return trimmed


# --------------------------------------------------------------------------------------
# The cache


@dataclass(frozen=True)
class CachedRead:
    instance_view: dict[str, Any]
    model: dict[str, Any] | None
    read_at: str


class InstanceViewCache(ABC):
    @abstractmethod
    def get(self, vm_id: str) -> CachedRead | None: ...

    @abstractmethod
    def put(self, vm_id: str, read: CachedRead) -> None: ...

    def get_many(self, vm_ids: list[str]) -> dict[str, CachedRead]:
        """The cached reads of these VMs that exist, by the VM id as given."""
        found = ((vm_id, self.get(vm_id)) for vm_id in vm_ids)
        return {vm_id: read for vm_id, read in found if read is not None}

    def put_many(self, reads: Mapping[str, CachedRead]) -> None:
        for vm_id, read in reads.items():
            self.put(vm_id, read)


def _cache_keys(vm_id: str) -> tuple[str, str]:
    ref = VmRef(vm_id)
    # Table keys may not hold "/": subscription as partition, "group:name" as row.
    return ref.subscription_id.lower(), f"{ref.resource_group}:{ref.name}".lower()


class InMemoryInstanceViewCache(InstanceViewCache):
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], CachedRead] = {}
        self._lock = threading.Lock()

    def get(self, vm_id: str) -> CachedRead | None:
        return self.entries.get(_cache_keys(vm_id))

    def put(self, vm_id: str, read: CachedRead) -> None:
        with self._lock:
            self.entries[_cache_keys(vm_id)] = read


class TableInstanceViewCache(InstanceViewCache):
    """Entities in ``names.TABLE_INSTANCE_VIEWS``: shared by every instance of the app."""

    table_name = names.TABLE_INSTANCE_VIEWS

    def __init__(self, table: EntityTable) -> None:
        self._table = table

    def get(self, vm_id: str) -> CachedRead | None:
        entity = self._table.get(*_cache_keys(vm_id))
        return self._read_of(entity) if entity is not None else None

    def put(self, vm_id: str, read: CachedRead) -> None:
        self._table.upsert(*_cache_keys(vm_id), self._entity_of(read))

    def get_many(self, vm_ids: list[str]) -> dict[str, CachedRead]:
        # A subscription's VMs share a partition: a few queries instead of a read per VM.
        wanted: dict[str, dict[str, list[str]]] = {}
        for vm_id in vm_ids:
            partition, row = _cache_keys(vm_id)
            wanted.setdefault(partition, {}).setdefault(row, []).append(vm_id)
        found: dict[str, CachedRead] = {}
        for partition, rows in wanted.items():
            for row, entity in self._table.get_many(partition, list(rows)).items():
                read = self._read_of(entity)
                found.update((vm_id, read) for vm_id in rows.get(row, []))
        return found

    def put_many(self, reads: Mapping[str, CachedRead]) -> None:
        partitions: dict[str, dict[str, dict[str, Any]]] = {}
        for vm_id, read in reads.items():
            partition, row = _cache_keys(vm_id)
            partitions.setdefault(partition, {})[row] = self._entity_of(read)
        for partition, rows in partitions.items():
            self._table.upsert_many(partition, rows)

    @staticmethod
    def _read_of(entity: Mapping[str, Any]) -> CachedRead:
        model = entity.get("model")
        return CachedRead(
            instance_view=json.loads(entity["instance_view"]),
            model=json.loads(model) if model else None,
            read_at=str(entity["read_at"]),
        )

    @staticmethod
    def _entity_of(read: CachedRead) -> dict[str, Any]:
        return {
            "instance_view": json.dumps(read.instance_view, separators=(",", ":")),
            "model": json.dumps(read.model, separators=(",", ":")) if read.model else "",
            "read_at": read.read_at,
        }


# --------------------------------------------------------------------------------------
# The reader


@dataclass(frozen=True)
class VmReading:
    """A VM as read, plus what advice needs from its model and ``VirtualMachine`` lacks."""

    vm: VirtualMachine
    ephemeral_os_disk: bool


class InstanceViewReader:
    """Reads one VM: from the cache when fresh, else one ARM call (Compute "Low Cost Get")."""

    def __init__(
        self,
        arm: ArmClient,
        cache: InstanceViewCache,
        *,
        ttl: timedelta = DEFAULT_CACHE_TTL,
        clock: Clock = utc_now,
    ) -> None:
        self.arm = arm
        self.cache = cache
        self.ttl = ttl
        self.clock = clock

    def _fresh(self, vm_id: str) -> CachedRead | None:
        try:
            cached = self.cache.get(vm_id)
            if cached is None or parse_utc(cached.read_at) + self.ttl <= self.clock():
                return None
        except (StorageError, ValueError, KeyError) as error:
            # The cache only saves calls: a table that cannot be read, or an entity that does
            # not parse, is a miss, never a VM that cannot be enriched.
            log.warning("instance-view cache unreadable for %s: %s", vm_id, type(error).__name__)
            return None
        return cached

    def fresh_many(self, refs: list[VmRef]) -> dict[str, CachedRead]:
        """The fresh cached reads of these VMs, by VM id, in a few round trips; a cache that
        cannot be read is all misses (as in ``_fresh``)."""
        try:
            found = self.cache.get_many([ref.id for ref in refs])
            limit = self.clock() - self.ttl
            return {vm_id: read for vm_id, read in found.items() if parse_utc(read.read_at) > limit}
        except (StorageError, ValueError, KeyError) as error:
            log.warning("instance-view cache unreadable: %s", type(error).__name__)
            return {}

    def keep(self, reads: Mapping[str, CachedRead]) -> None:
        """Cache reads made by ``read_through`` (a few transactions instead of a write each)."""
        try:
            self.cache.put_many(reads)
        except StorageError as error:
            log.warning("instance-view cache not written for %d VMs: %s", len(reads), error)

    def keeper(self) -> CacheKeeper:
        """Caches reads as they come in (``CacheKeeper``); ``close`` it after the reads."""
        return CacheKeeper(self)

    def read(self, ref: VmRef, *, use_cache: bool = True) -> VmReading:
        """Raises ``ArmError`` subclasses (``ArmNotFoundError`` for a VM deleted meanwhile)."""
        reading, read = self.read_through(ref, self._fresh(ref.id) if use_cache else None)
        if read is not None:
            try:
                self.cache.put(ref.id, read)
            except StorageError as error:
                log.warning("instance-view cache not written for %s: %s", ref.id, error)
        return reading

    @staticmethod
    def needs_arm(ref: VmRef, cached: CachedRead | None) -> bool:
        """Whether ``read_through`` must ask ARM: no cached read, or no model to go with it."""
        return cached is None or (ref.model is None and cached.model is None)

    def read_through(
        self, ref: VmRef, cached: CachedRead | None
    ) -> tuple[VmReading, CachedRead | None]:
        """The VM from ``cached`` when it has what is needed, else from ARM; with the read to
        cache (None when nothing was read from ARM). Raises as ``read`` does."""
        model = ref.model or (cached.model if cached else None)
        if cached is not None and not self.needs_arm(ref, cached):
            vm = to_virtual_machine(ref, model, cached.instance_view)
            return VmReading(vm, has_ephemeral_os_disk(model)), None
        version = {"api-version": api_version("Microsoft.Compute")}
        if model is not None:
            view = self.arm.get(f"{ref.id}/instanceView", Operation.VM_GET, params=version)
        else:
            # No model yet (named by Resource Health or impacted resources): one call for both.
            model = self.arm.get(
                ref.id, Operation.VM_GET, params={**version, "$expand": "instanceView"}
            )
            view = (model.get("properties") or {}).get("instanceView") or {}
        # Converted before it is cached: a read that does not convert is not kept for the TTL.
        reading = VmReading(to_virtual_machine(ref, model, view), has_ephemeral_os_disk(model))
        read = CachedRead(_trim_instance_view(view), _trim_model(model), format_utc(self.clock()))
        return reading, read


class CacheKeeper:
    """Caches a notice's reads while the rest are still being read.

    A subscription's reads go to the cache in the background as soon as a table transaction's
    worth (``TRANSACTION_ROWS``) has come back, so after its last ARM read a cold notice waits
    for one transaction at most instead of for every one (issue 18). ``close`` writes the rest
    and waits for the writes, also after an error: the retry of a stopped event finds the
    reads made so far. A write that fails is a line in the log (``InstanceViewReader.keep``).
    """

    def __init__(self, reader: InstanceViewReader, batch: int = TRANSACTION_ROWS) -> None:
        self._reader = reader
        self._batch = batch
        self._pending: dict[str, dict[str, CachedRead]] = {}
        self._writer: ThreadPoolExecutor | None = None
        self._writes: list[Future[None]] = []

    def add(self, ref: VmRef, read: CachedRead) -> None:
        pending = self._pending.setdefault(ref.subscription_id.lower(), {})
        pending[ref.id] = read
        if len(pending) >= self._batch:
            if self._writer is None:
                self._writer = ThreadPoolExecutor(1, thread_name_prefix="forewarn-cache")
            self._writes.append(self._writer.submit(self._reader.keep, dict(pending)))
            pending.clear()

    def close(self) -> None:
        rest = {vm_id: read for reads in self._pending.values() for vm_id, read in reads.items()}
        self._pending.clear()
        try:
            if rest:
                self._reader.keep(rest)
        finally:
            if self._writer is not None:
                self._writer.shutdown(wait=True)
            for write in self._writes:
                write.result()
