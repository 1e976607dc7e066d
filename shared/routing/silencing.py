"""Silences in the route stage: Azure's own notices are held back for silenced VMs too.

The wave timers apply silences where they make their notices (shared/wave/runner.py); Azure's
notices meet them here, receiver by receiver, with the same rule (``shared.wave.silences.judge``):
a VM that an active silence matches is left out of the message, unless its deadline (the
self-service window's end when the advice is to start it yourself, else the scheduled window's
start) passes before the silence ends and that has not been said yet. Then the VM stays in, and
the message says why in a note.

"Said once" is a row per (silence, VM, deadline) in the ``silences`` table (partition ``said``)
holding the event that said it: the first event to insert it says it, to every receiver it
reaches and on every retry of that event; a later event about the same deadline finds the row
and holds the VM back. A receiver left with no VM gets no message at all; one left with some
is told, in a note per silence, how many VMs were held back, by which silence, until when (a
message that counts "2 VMs" while 3 more were held silently would not be true).

Only notices that name VMs are judged: a silence is about VMs (or a wave's VMs), and a notice
with none is about something else. The wave timers' events were judged where they were made.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from shared.models import EnrichedEvent, EnrichmentNote, VirtualMachine
from shared.render.held import held_note
from shared.render.lifecycle import is_wave_timer_event
from shared.routing.grouping import ReceiverGroup
from shared.storage import EntityTable, table_key
from shared.telemetry import get_logger
from shared.timeutil import format_utc, parse_utc
from shared.wave.notices import due_of
from shared.wave.silences import Silence, SilenceStore, TableSilenceStore, judge

SAID_PARTITION = "said"
NOTE_CODE = "silenced_deadline"

logger = get_logger(__name__)


@dataclass
class Judged:
    """A receiver's group after silences: the VMs kept, the held ones, notes to show."""

    group: ReceiverGroup
    held: list[VirtualMachine] = field(default_factory=list)
    notes: list[EnrichmentNote] = field(default_factory=list)


class SilenceGate:
    def __init__(self, store: SilenceStore, said: EntityTable) -> None:
        self._store = store
        self._said = said

    @classmethod
    def on_table(cls, table: EntityTable) -> SilenceGate:
        """Silences and the said-once rows share the ``silences`` table."""
        return cls(TableSilenceStore(table), table)

    def active(self, enriched: EnrichedEvent, now: datetime) -> list[Silence]:
        """The silences to apply to this event (none for the wave timers' own events)."""
        if is_wave_timer_event(enriched.event):
            return []
        if not enriched.vms:
            return []
        return self._store.active(now)

    def judge_group(
        self,
        enriched: EnrichedEvent,
        group: ReceiverGroup,
        silences: list[Silence],
        now: datetime,
        *,
        dry_run: bool = False,
    ) -> Judged:
        """``dry_run`` (``forewarn route``): judge as the stage would, but write no said-once
        row; a deadline not yet said shows as kept, with its note."""
        if not silences or not group.vms:
            return Judged(group)
        tracking_id = enriched.event.tracking_id
        kept: list[VirtualMachine] = []
        held_by: dict[str, tuple[Silence, list[VirtualMachine]]] = {}
        judged = Judged(group)
        for vm in group.vms:
            due = due_of(vm)
            # judge() weighs "already said" only for a VM a silence holds that has a deadline,
            # so the said rows are read for those alone, not for every VM of every receiver.
            holding = [silence for silence in silences if silence.matches(vm, tracking_id)]
            already = (
                due is not None
                and bool(holding)
                and self._said_elsewhere(holding, vm, due, enriched.event.event_id)
            )
            verdict = judge(vm, tracking_id, due, silences, already)
            sent = verdict.send and (
                verdict.silence is None
                or dry_run
                # Of two events judged at once, the one whose row lands says it.
                or self._say(verdict.silence, vm, due, enriched.event.event_id, now)
            )
            if not sent:
                judged.held.append(vm)
                if verdict.silence is not None:
                    held_by.setdefault(verdict.silence.id, (verdict.silence, []))[1].append(vm)
                continue
            kept.append(vm)
            if verdict.silence is not None:
                judged.notes.append(
                    EnrichmentNote(NOTE_CODE, f"{vm.name}: {verdict.note}", resource_id=vm.id)
                )
        judged.group = replace(group, vms=kept)
        judged.notes.extend(
            held_note(s.id, parse_utc(s.ends), s.comment, (vm.name for vm in vms))
            for s, vms in held_by.values()
        )
        return judged

    def hold_back(
        self,
        enriched: EnrichedEvent,
        group: ReceiverGroup,
        silences: list[Silence],
        now: datetime,
    ) -> tuple[ReceiverGroup, EnrichedEvent] | None:
        """The receiver's group and event once silences held back their VMs, with the notes
        that say so; ``None`` when no VM is left to tell the receiver about (no message)."""
        judged = self.judge_group(enriched, group, silences, now)
        if judged.held:
            logger.info(
                "event %s: %d VMs held back from %s by silences",
                enriched.event.event_id,
                len(judged.held),
                group.receiver.name,
            )
            if not judged.group.vms:
                return None
        if judged.notes:
            enriched = replace(enriched, notes=[*enriched.notes, *judged.notes])
        return judged.group, enriched

    # ----------------------------------------------------------------------------------

    @staticmethod
    def _key(silence: Silence, vm: VirtualMachine, due: str | None) -> str:
        return table_key(f"{silence.id}|{vm.id.lower()}|{due or ''}")

    def _said_elsewhere(
        self,
        silences: list[Silence],
        vm: VirtualMachine,
        due: str | None,
        event_id: str,
    ) -> bool:
        """Whether another event already said this deadline through a holding silence."""
        for silence in silences:
            entity = self._said.get(SAID_PARTITION, self._key(silence, vm, due))
            if entity is not None and entity.get("event_id") != event_id:
                return True
        return False

    def _say(
        self, silence: Silence, vm: VirtualMachine, due: str | None, event_id: str, now: datetime
    ) -> bool:
        """Record that ``event_id`` says it; False when another event's row is there."""
        key = self._key(silence, vm, due)
        row = {"event_id": event_id, "vm_id": vm.id, "due": due or "", "said_at": format_utc(now)}
        if self._said.insert_if_absent(SAID_PARTITION, key, row):
            return True
        entity = self._said.get(SAID_PARTITION, key)
        return entity is None or entity.get("event_id") == event_id
