"""Azure's InProgress notice says "is rebooting" only once a scheduled window has begun.

Found in an outside review of issue 16: Azure sends the InProgress stage while a wave runs, and
for the VMs of a receiver whose self-service windows are still open the lead said "In progress:
Azure is rebooting 5 VMs between Wed 16 Dec … and Wed 6 Jan …. Start 2 VMs yourself by Wed 16
Dec …": nine days before Azure could reboot any of them, beside an instruction that only makes
sense while it has not. Until a scheduled window has begun, the lead says the maintenance has
begun and when Azure reboots them.

GIVEN the maintenance sample at stage InProgress (every VM's scheduled window opens on 30 Sep
2020), WHEN rendered on every channel at a moment, THEN the lead says what holds at that moment.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import cast

import pytest

from shared.models import ChannelName, Receiver
from shared.render import RENDERERS, render_message
from shared.standins.enriched_samples import NOW, sample_enriched

CHANNELS = sorted(RENDERERS)


def _first_scheduled_start() -> datetime:
    starts = [
        vm.maintenance.scheduled_window.start_dt
        for vm in sample_enriched().vms
        if vm.maintenance is not None and vm.maintenance.scheduled_window.start_dt is not None
    ]
    return min(starts)


#   GIVEN the moment it is rendered at               THEN the lead says       and never says
MOMENTS = [
    pytest.param(NOW, "Azure has begun this maintenance", "is rebooting", id="before-any-window"),
    pytest.param(None, "Azure is rebooting", "has begun this", id="inside-a-scheduled-window"),
]


@pytest.mark.parametrize(("at", "says", "never"), MOMENTS)
@pytest.mark.parametrize("channel", CHANNELS)
def test_in_progress_says_rebooting_only_once_a_window_has_begun(
    channel: str, at: datetime | None, says: str, never: str
) -> None:
    moment = at or _first_scheduled_start() + timedelta(hours=1)
    enriched = sample_enriched(stage="InProgress")
    if at is None:  # inside Azure's window the self-service window has closed
        enriched = replace(enriched, plan=None)
    receiver = Receiver(
        name="r", type=cast(ChannelName, channel), targets=[], timezone="Europe/Berlin"
    )
    # WHEN rendered
    message = render_message(enriched, receiver, enriched.vms, moment)
    shown = message.text + json.dumps(message.payload, ensure_ascii=False)
    # THEN
    if channel != "sms":  # an SMS leads with what to do, not with what Azure is doing
        assert says in shown, shown[:600]
    assert never not in shown, shown[:600]
    assert moment.tzinfo is UTC
