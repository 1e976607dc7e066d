"""``forewarn demo``, last: sql-02's Scheduled Events forwarder sees a Reboot 15 minutes ahead.

The real forwarder (``forwarder/``) reads the IMDS stand-in and posts to the hosted app; every
receiver then gets "Reboot of sql-02 at HH:MM, in 15 min" in the wave's thread, "Reboot of
sql-02 started (seen HH:MM)" when IMDS shows it Started, and "sql-02 rebooted, back at HH:MM"
once the event is gone. The forwarder is not part of an installed
wheel (it is copied onto VMs), so without a checkout this step says so and is left out.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from shared.cli.demo_followups import _counts, _wait_and_take
from shared.models import Receiver, RenderedMessage
from shared.standins.imds_server import ImdsStandIn
from shared.standins.local_stack import SCHEDULED_EVENTS_KEY

VM = "sql-02"


def scheduled_and_show(stack: Any, timeout: float) -> list[tuple[Receiver, RenderedMessage]] | None:
    """A Reboot scheduled and done; what every channel got, [] without the forwarder."""
    try:
        from forwarder.agent import Forwarder
        from forwarder.config import Settings
    except ImportError:
        print("\n(forewarn demo: the Scheduled Events forwarder needs a checkout; left out)")
        return []
    vm = next(vm for vm in stack.fleet.vms.values() if vm.name == VM)
    print(f"\n=== {VM}'s Scheduled Events forwarder: a Reboot in 15 minutes, then done " + "=" * 4)
    imds = ImdsStandIn(vm_name=VM, resource_id=vm.id)
    with imds, tempfile.TemporaryDirectory() as tmp:
        forwarder = Forwarder(
            Settings(
                app_url=stack.base_url,
                key=SCHEDULED_EVENTS_KEY,
                imds_url=imds.base_url,
                state_file=Path(tmp) / "state.json",
            )
        )
        counts = _counts(stack)
        event_id = imds.schedule("Reboot", minutes=15)
        forwarder.step()
        scheduled = _wait_and_take(stack, counts, timeout, "Scheduled Event")
        if scheduled is None:
            return None
        # As in Azure, the event starts (IMDS shows it Started) before it goes: gone while
        # still Scheduled, before its NotBefore, would be no reboot anyone saw.
        counts = _counts(stack)
        imds.begin(event_id)
        forwarder.step()
        started = _wait_and_take(stack, counts, timeout, "Scheduled Event started")
        if started is None:
            return None
        counts = _counts(stack)
        imds.finish(event_id)
        forwarder.step()
        back = _wait_and_take(stack, counts, timeout, "Scheduled Event over")
        if back is None:
            return None
    return [*scheduled, *started, *back]
