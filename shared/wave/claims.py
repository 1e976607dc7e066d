"""Claims and snoozes: who has a VM of a wave, and whose reminders wait.

A claim names a person (``by``) and, usually, the receiver they read forewarn on. It is made
for one VM, or for a whole wave on behalf of one receiver (every VM of that wave that reaches
the receiver). While a VM is claimed, its reminders go only to the owner's receiver, and every
message about it says who has it (shared/routing/grouping.py, shared/render/facts.py). A claim
without a receiver names the owner and changes nobody's reminders: forewarn cannot guess where
that person reads.

Claims end by themselves (``prune``, run by the sweep): a VM's once its record is closed (done
or deleted), a wave's once none of its records is open, a snooze once its time is up, and a
claim about something forewarn holds no record of after ``UNRECORDED_TTL``. So the table holds
what is in force, not every claim ever made. A VM's claim also ends when its maintenance
begins a new wave (``release``): it was on the last wave's work; its snooze stays while it
holds.

A snooze ("remind me in 24 h") holds a VM's reminders back until a moment, but never past the
last reminder before a deadline (the most urgent offset): that one always goes out on time
(shared/wave/reminders.py).

Kept in the ``claims`` table: partition ``vm`` (row: the VM id) holds a VM's claim and snooze,
partition ``wave`` (row: tracking id and receiver) the wave claims. A VM claim outranks a wave
claim.

    ClaimError
    ├── ClaimNotFoundError   unclaim of something nobody claimed
    └── ClaimInputError      an empty name, or a VM id that is not one
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from shared.parsing.resource_id import parse_vm_id
from shared.storage import EntityTable, table_key
from shared.timeutil import format_utc, parse_utc
from shared.wave.records import MaintenanceRecord

PARTITION_VM = "vm"
PARTITION_WAVE = "wave"
MAX_NAME_CHARS = 80  # a person's name as it is shown beside a VM
# Told (now, VM id, wave id) when a claim was just made, so that the escalation it ends is
# resolved at once (WaveRunner.resolve_claimed) rather than by the next hourly pass.
OnClaimed = Callable[[datetime, str | None, str | None], object]
# A claim on a VM or wave forewarn has no record of (a typed id, records since removed) cannot
# be seen to end; after this long it is dropped. Waves run for weeks, not months.
UNRECORDED_TTL = timedelta(days=60)

Subject = Literal["vm", "wave"]


class ClaimError(Exception):
    """Base class of claim failures."""


class ClaimNotFoundError(ClaimError):
    """Nobody has claimed that VM or wave."""


class ClaimInputError(ClaimError):
    """A name or id a claim cannot be made with."""


@dataclass(frozen=True)
class Claim:
    subject: Subject
    key: str  # the VM id (lower-case) or the tracking id
    by: str
    receiver: str  # "" when the claim named no receiver (a VM claim only)
    at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "key": self.key,
            "by": self.by,
            "receiver": self.receiver or None,
            "at": self.at,
        }


@dataclass(frozen=True)
class Ownership:
    """Every claim and snooze, read once per pass."""

    vm_claims: dict[str, Claim] = field(default_factory=dict)  # lower-case VM id ->
    wave_claims: dict[str, list[Claim]] = field(default_factory=dict)  # lower tracking id ->
    snoozes: dict[str, datetime] = field(default_factory=dict)  # lower-case VM id -> until

    def owners_of(self, vm_id: str, tracking_id: str | None) -> dict[str, str]:
        """Receiver -> person for this VM: its own claim, else its wave's claims."""
        own = self.vm_claims.get(vm_id.lower())
        if own is not None:
            return {own.receiver: own.by}
        claims = self.wave_claims.get((tracking_id or "").lower(), [])
        return {claim.receiver: claim.by for claim in claims}

    def snoozed_until(self, vm_id: str) -> datetime | None:
        return self.snoozes.get(vm_id.lower())


def owner_text(owners: dict[str, str]) -> str:
    """``Alice`` or ``Alice and Bob``: the people named by ``owners``, once each."""
    people = sorted(set(owners.values()), key=str.lower)
    if len(people) <= 1:
        return "".join(people)
    return ", ".join(people[:-1]) + " and " + people[-1]


def _name(text: str) -> str:
    name = " ".join(text.split())
    if not name:
        raise ClaimInputError("a claim needs a name (--by)")
    if len(name) > MAX_NAME_CHARS:
        raise ClaimInputError(f"a name of at most {MAX_NAME_CHARS} characters, please")
    return name


def _vm_key(vm_id: str) -> str:
    if parse_vm_id(vm_id) is None:
        raise ClaimInputError(f"not a VM resource id: {vm_id!r}")
    return vm_id.lower()


class ClaimStore:
    """Claims and snoozes in one table (``EntityTable``: Azure Tables, or in memory)."""

    def __init__(self, table: EntityTable) -> None:
        self._table = table

    # -- claims ------------------------------------------------------------------------

    def claim_vm(self, vm_id: str, by: str, receiver: str | None, now: datetime) -> Claim:
        """Claim one VM (a later claim replaces an earlier one; a snooze stays)."""
        key = _vm_key(vm_id)
        claim = Claim("vm", key, _name(by), (receiver or "").strip(), format_utc(now))
        row = table_key(key)
        entity = self._table.get(PARTITION_VM, row) or {}
        self._table.upsert(
            PARTITION_VM,
            row,
            {
                "vm_id": key,
                "by": claim.by,
                "receiver": claim.receiver,
                "at": claim.at,
                "snoozed_until": str(entity.get("snoozed_until") or ""),
            },
        )
        return claim

    def claim_wave(self, tracking_id: str, by: str, receiver: str, now: datetime) -> Claim:
        """Claim every VM of a wave that reaches ``receiver``."""
        wave = tracking_id.strip()
        if not wave or not receiver.strip():
            raise ClaimInputError("a wave claim needs a tracking id and a receiver")
        claim = Claim("wave", wave, _name(by), receiver.strip(), format_utc(now))
        self._table.upsert(
            PARTITION_WAVE,
            table_key(f"{wave.lower()}|{claim.receiver}"),
            {"tracking_id": wave, "by": claim.by, "receiver": claim.receiver, "at": claim.at},
        )
        return claim

    def unclaim_vm(self, vm_id: str) -> Claim:
        key = _vm_key(vm_id)
        row = table_key(key)
        entity = self._table.get(PARTITION_VM, row)
        if entity is None or not entity.get("by"):
            raise ClaimNotFoundError(f"nobody has claimed {vm_id}")
        claim = _vm_claim(entity)
        if entity.get("snoozed_until"):
            self._table.upsert(PARTITION_VM, row, {**_bare(entity), "by": "", "receiver": ""})
        else:
            self._table.delete(PARTITION_VM, row)
        return claim

    def unclaim_wave(self, tracking_id: str, receiver: str | None) -> list[Claim]:
        """End the wave's claims (only ``receiver``'s, when given)."""
        ended = [
            claim
            for claim in self.ownership().wave_claims.get(tracking_id.strip().lower(), [])
            if receiver is None or claim.receiver == receiver.strip()
        ]
        if not ended:
            raise ClaimNotFoundError(f"nobody has claimed wave {tracking_id}")
        for claim in ended:
            self._table.delete(PARTITION_WAVE, table_key(f"{claim.key.lower()}|{claim.receiver}"))
        return ended

    def release(self, vm_ids: Iterable[str]) -> int:
        """End the claims of VMs whose maintenance begins a new wave (a claim was made on the
        last one; nobody has the new one yet); return how many ended. A snooze stays while it
        holds: it is the VM's own ("quiet about this VM until …"), bounded by its end and by
        the last reminder before any deadline, so it never hides a new wave's deadline."""
        ended = 0
        for vm_id in vm_ids:
            row = table_key(vm_id.lower())
            entity = self._table.get(PARTITION_VM, row)
            if entity is None or not entity.get("by"):
                continue
            if entity.get("snoozed_until"):
                self._table.upsert(PARTITION_VM, row, {**_bare(entity), "by": "", "receiver": ""})
            else:
                self._table.delete(PARTITION_VM, row)
            ended += 1
        return ended

    # -- snoozes -----------------------------------------------------------------------

    def snooze(self, vm_id: str, until: datetime) -> None:
        key = _vm_key(vm_id)
        row = table_key(key)
        entity = self._table.get(PARTITION_VM, row) or {"vm_id": key, "by": "", "receiver": ""}
        self._table.upsert(PARTITION_VM, row, {**_bare(entity), "snoozed_until": format_utc(until)})

    def unsnooze(self, vm_id: str) -> datetime | None:
        """End a VM's snooze; the moment it held until, or ``None`` when none was set."""
        key = _vm_key(vm_id)
        row = table_key(key)
        entity = self._table.get(PARTITION_VM, row)
        if entity is None or not entity.get("snoozed_until"):
            return None
        until = parse_utc(str(entity["snoozed_until"]))
        if entity.get("by"):
            self._table.upsert(PARTITION_VM, row, {**_bare(entity), "snoozed_until": ""})
        else:
            self._table.delete(PARTITION_VM, row)
        return until

    # -- ending what no longer holds -----------------------------------------------------

    def prune(self, records: Iterable[MaintenanceRecord], now: datetime) -> Pruned:
        """Drop the claims and snoozes that no longer hold (see the module docstring).
        ``records``: every record forewarn holds (a wave may span subscriptions)."""
        by_vm = {record.vm_id.lower(): record for record in records}
        waves: dict[str, bool] = {}  # lower tracking id -> any record open
        for record in by_vm.values():
            wave = (record.tracking_id or "").lower()
            if wave:
                waves[wave] = waves.get(wave, False) or record.is_open
        pruned = Pruned()
        for entity in list(self._table.query(PARTITION_VM)):
            key = str(entity.get("vm_id") or "").lower()
            known = by_vm.get(key)
            over = known is not None and not known.is_open
            unrecorded = known is None and _older(entity, now)
            claim_ends = bool(entity.get("by")) and (over or unrecorded)
            # A snooze has its own end; it also ends with the VM's maintenance.
            snooze_ends = bool(entity.get("snoozed_until")) and (over or _until(entity) <= now)
            if not claim_ends and not snooze_ends:
                continue
            pruned.vm_claims += claim_ends
            pruned.snoozes += snooze_ends
            kept = {
                **_bare(entity),
                **({"by": "", "receiver": ""} if claim_ends else {}),
                **({"snoozed_until": ""} if snooze_ends else {}),
            }
            if kept.get("by") or kept.get("snoozed_until"):
                self._table.upsert(PARTITION_VM, str(entity["RowKey"]), kept)
            else:
                self._table.delete(PARTITION_VM, str(entity["RowKey"]))
        for entity in list(self._table.query(PARTITION_WAVE)):
            wave = str(entity.get("tracking_id") or "").lower()
            if (wave in waves and not waves[wave]) or (wave not in waves and _older(entity, now)):
                self._table.delete(PARTITION_WAVE, str(entity["RowKey"]))
                pruned.wave_claims += 1
        return pruned

    # -- reading -----------------------------------------------------------------------

    def ownership(self) -> Ownership:
        vm_claims: dict[str, Claim] = {}
        snoozes: dict[str, datetime] = {}
        for entity in self._table.query(PARTITION_VM):
            try:
                key = str(entity["vm_id"]).lower()
                if entity.get("by"):
                    vm_claims[key] = _vm_claim(entity)
                if entity.get("snoozed_until"):
                    snoozes[key] = parse_utc(str(entity["snoozed_until"]))
            except (KeyError, ValueError):
                continue  # one hand-edited row must not drop every other claim
        wave_claims: dict[str, list[Claim]] = {}
        for entity in self._table.query(PARTITION_WAVE):
            try:
                claim = Claim(
                    "wave",
                    str(entity["tracking_id"]),
                    str(entity["by"]),
                    str(entity["receiver"]),
                    str(entity.get("at") or ""),
                )
            except KeyError:
                continue
            wave_claims.setdefault(claim.key.lower(), []).append(claim)
        for claims in wave_claims.values():
            claims.sort(key=lambda claim: claim.receiver)
        return Ownership(vm_claims, wave_claims, snoozes)

    def claims(self) -> list[Claim]:
        found = self.ownership()
        every: Iterable[Claim] = [
            *found.vm_claims.values(),
            *(claim for claims in found.wave_claims.values() for claim in claims),
        ]
        return sorted(every, key=lambda claim: (claim.subject, claim.key, claim.receiver))


@dataclass
class Pruned:
    """What one ``prune`` ended."""

    vm_claims: int = 0
    wave_claims: int = 0
    snoozes: int = 0

    def __bool__(self) -> bool:
        return bool(self.vm_claims or self.wave_claims or self.snoozes)


def _older(entity: dict[str, Any], now: datetime) -> bool:
    try:
        return now - parse_utc(str(entity.get("at") or "")) > UNRECORDED_TTL
    except ValueError:
        return True  # no time of its own: a hand-made row, ended like an old one


def _until(entity: dict[str, Any]) -> datetime:
    try:
        return parse_utc(str(entity["snoozed_until"]))
    except (KeyError, ValueError):
        return datetime.min.replace(tzinfo=UTC)


def _bare(entity: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entity.items() if key not in ("PartitionKey", "RowKey")}


def _vm_claim(entity: dict[str, Any]) -> Claim:
    return Claim(
        "vm",
        str(entity["vm_id"]).lower(),
        str(entity["by"]),
        str(entity.get("receiver") or ""),
        str(entity.get("at") or ""),
    )
