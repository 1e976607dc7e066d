"""Owners in ``python -m bench wave``: half of the VMs advised to start themselves are claimed,
each at a random moment of its self-service window, for its team's receiver, as a press of
"Claim" in Slack or ``forewarn claim`` would (``ClaimStore``, the table the timers read).

Then every reminder the timers send is judged against the claims in force when it was sent:
  to non-owners  a reminder about a claimed VM that reached a receiver other than its owner's
                 (goal 0)
  saved          reminders that would have reached a non-owner without the claim (cmdb here),
                 kept from them by ownership
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from datetime import datetime

from bench.wave_world import START, World
from shared.models import EnrichedEvent
from shared.routing.grouping import group_event
from shared.routing.rules import RoutingConfig
from shared.wave.claims import ClaimStore
from shared.wave.records import InMemoryRecordStore

CLAIM_SHARE = 0.5
OWNERS_SEED = 21  # its own stream: the world's VMs and fates stay those of the seed


@dataclass
class Owners:
    """The claims made on the fake clock, and what the reminders did with them."""

    claims: ClaimStore
    tracking_id: str
    planned: int = 0  # claim moments drawn
    claimed: set[str] = field(default_factory=set)  # VM ids claimed at their moment
    to_non_owners: int = 0
    saved: int = 0
    to_owners: int = 0

    def plan(self, world: World, receiver_of: dict[str, str]) -> None:
        """A claim moment for half of the VMs, in their self-service window (whether a VM was
        advised to start itself is known only once it is enriched: see ``claim``)."""
        rng = random.Random(OWNERS_SEED)
        for key, truth in sorted(world.truths.items()):
            if rng.random() >= CLAIM_SHARE:
                continue
            close = datetime.fromisoformat(truth.first_close.replace("Z", "+00:00"))
            moment = max(truth.visible_at, START) + (close - truth.visible_at) * rng.uniform(
                0.05, 0.8
            )
            person = f"owner-{len(world.actions)}"
            receiver = receiver_of[truth.vm.subscription_id]
            world.at(moment, "claim", key, person, receiver)
            self.planned += 1

    def claim(self, args: tuple[str, ...], records: InMemoryRecordStore, now: datetime) -> None:
        """Claim the VM if forewarn follows it, still open, advised to start itself."""
        vm_id, person, receiver = args
        record = next((r for r in records.all() if r.vm_id.lower() == vm_id), None)
        if record is None or not record.is_open or record.advice != "self_service":
            return
        self.claims.claim_vm(record.vm_id, person, receiver, now)
        self.claimed.add(vm_id)

    def judge(self, enriched: EnrichedEvent, config: RoutingConfig, now: datetime) -> None:
        """Count a reminder's (receiver, VM) pairs against the claims in force now."""
        ownership = self.claims.ownership()
        sent = {
            (group.receiver.name, vm.id.lower())
            for group in group_event(enriched, config, now)
            for vm in group.vms
        }
        for receiver, vm_id in sent:
            owners = ownership.owners_of(vm_id, self.tracking_id)
            if owners and receiver not in owners:
                self.to_non_owners += 1
            elif owners:
                self.to_owners += 1
        unowned = replace(enriched, vms=[replace(vm, owners={}) for vm in enriched.vms])
        everyone = {
            (group.receiver.name, vm.id.lower())
            for group in group_event(unowned, config, now)
            for vm in group.vms
        }
        self.saved += len(everyone - sent)

    def figures(self, self_serve: int) -> str:
        return (
            f"owners: {len(self.claimed)} of {self_serve} VMs advised to start themselves "
            f"claimed ({self.planned} claim moments drawn for half of all VMs); reminders to "
            f"their owners {self.to_owners}, to non-owners {self.to_non_owners} (goal 0), "
            f"kept from non-owners by ownership {self.saved}"
        )
