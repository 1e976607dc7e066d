"""What a pass of the sweep or the reminders did, or would do on a dry run: each notice, who it
went (or would go) to, and the pass's counts. The command line prints these; the runner
(runner.py) fills them in.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.models import EnrichmentNote
from shared.wave.notices import Notice
from shared.wave.reminders import reminder_label_of


@dataclass(frozen=True)
class PlannedNotice:
    """One notice about one VM and who it goes (or would go) to."""

    kind: str
    vm_id: str
    tracking_id: str | None
    receivers: list[str]
    due: str | None
    event_id: str  # empty when a silence held it back
    silenced_by: str | None = None
    advice: str | None = None  # the VM's advice as the notice states it
    reminder: str | None = None  # a reminder's offset label, e.g. "self_service-72h"

    @classmethod
    def of(
        cls, notice: Notice, receivers: list[str], event_id: str, silenced_by: str | None = None
    ) -> PlannedNotice:
        return cls(
            notice.kind,
            notice.vm_id,
            notice.tracking_id,
            receivers,
            notice.due,
            event_id,
            silenced_by,
            notice.vm.advice.action,
            reminder_label_of(notice),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "vm_id": self.vm_id,
            "tracking_id": self.tracking_id,
            "receivers": self.receivers,
            "due": self.due,
            "event_id": self.event_id,
            "silenced_by": self.silenced_by,
        }


@dataclass
class PassReport:
    subscriptions: list[str]
    notices: list[PlannedNotice] = field(default_factory=list)
    notes: list[EnrichmentNote] = field(default_factory=list)
    events: int = 0
    arm_requests: int = 0
    vms_seen: int = 0
    records_written: int = 0
    dry_run: bool = False
    claims_ended: int = 0  # claims and snoozes the sweep found over (ClaimStore.prune)
