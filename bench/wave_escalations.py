"""Escalations in ``python -m bench wave``: every team receiver escalates to one PagerDuty
receiver 24 h before a self-service window closes (``escalate: {to: pager, before: 24h}``).

Each escalation the reminders pass sends is judged against the truth and the claims in force
when it was sent, and after every pass each record is checked for one it should have had:
  wrong   escalations about a VM that was claimed, or whose maintenance was done or started
          (the world's truth, not forewarn's records) when sent (goal 0)
  missed  a VM advised to start itself, still waiting (pending or rescheduled), unclaimed,
          whose self-service window closes within 23 h (an hourly pass had its chance) and
          that was never escalated for that deadline (goal 0)
  resolved  escalations resolved (claimed, started or done since), and of those claimed
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bench.wave_world import World
from shared.models import EnrichedEvent
from shared.routing.grouping import group_event
from shared.routing.rules import RoutingConfig
from shared.timeutil import parse_utc
from shared.wave.claims import ClaimStore
from shared.wave.escalations import WAITING, escalation_key
from shared.wave.records import InMemoryRecordStore

PAGER = "pager"
BEFORE = "24h"
# An hourly pass escalates within an hour of the moment; past this, an escalation is missed.
DUE_BY = timedelta(hours=23)


@dataclass
class Escalations:
    claims: ClaimStore
    tracking_id: str
    sent: int = 0
    wrong: list[str] = field(default_factory=list)
    resolved: int = 0
    missed: set[tuple[str, str]] = field(default_factory=set)  # (vm id, deadline)

    def judge(
        self, enriched: EnrichedEvent, config: RoutingConfig, now: datetime, world: World
    ) -> None:
        """An escalation (or its resolution) as the route stage sends it."""
        operation = enriched.event.operation_name or ""
        groups = group_event(enriched, config, now)
        if operation.endswith("/escalation_resolved"):
            self.resolved += sum(len(group.vms) for group in groups)
            return
        ownership = self.claims.ownership()
        for group in groups:
            for vm in group.vms:
                self.sent += 1
                truth = world.truths[vm.id.lower()]
                if ownership.owners_of(vm.id, self.tracking_id):
                    self.wrong.append(f"{vm.name}: claimed")
                elif truth.finished(now):
                    self.wrong.append(f"{vm.name}: done")

    def check(self, records: InMemoryRecordStore, now: datetime) -> None:
        """After a reminders pass: the VMs that should have been escalated by now."""
        ownership = self.claims.ownership()
        for record in records.all():
            end = record.self_service_window.end
            if record.status not in WAITING or record.advice != "self_service" or not end:
                continue
            if not now < parse_utc(end) <= now + DUE_BY:
                continue
            if ownership.owners_of(record.vm_id, record.tracking_id):
                continue
            if not record.has_sent(escalation_key(end)):
                self.missed.add((record.vm_id.lower(), end))

    def figures(self) -> str:
        return (
            f"escalations: {self.sent} sent to {PAGER} ({BEFORE} before), for VMs claimed or "
            f"done {len(self.wrong)} (goal 0), missed for unclaimed pending VMs "
            f"{len(self.missed)} (goal 0), resolved {self.resolved}"
        )

    @property
    def met(self) -> bool:
        return not self.wrong and not self.missed
