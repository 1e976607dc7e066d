"""What the message parts read of one VM: the shape ``vm_facts.VmFacts`` has, as a Protocol.

glance, headline and followup build parts of ``MessageFacts`` from its VMs, and facts and
vm_facts use them; if they named ``VmFacts`` itself, they and vm_facts would import each other
(docs/architecture.md, "Layers": no circles). They name this instead, and ``VmFacts`` fits it
without saying so.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from shared.models import VirtualMachine
from shared.render.text import ReaderClock


class VmView(Protocol):
    vm: VirtualMachine
    clock: ReaderClock
    name: str
    resource_group: str
    location: str
    planned: bool
    advice: str
    self_service_start: datetime | None
    self_service_end: datetime | None
    scheduled_start: datetime | None
    allowed_now: bool

    @property
    def reason_codes(self) -> list[str]: ...
