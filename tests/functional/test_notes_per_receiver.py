"""A note about one VM reaches the receivers of that VM only (the last session's review).

Enrichment writes a note when it cannot tell about a VM: gone between Azure's list and the read
(``vm_gone``), unreadable, not advised on. The route stage narrows the VMs to each receiver's;
a note about a VM is narrowed the same way, so a team never reads about another team's VM.
Real parts: the stand-in ARM on 127.0.0.1 answers 404 for the VM Azure listed that is gone;
the enrich and route stages run in process (tests/support/wave_harness.py).

    GIVEN Azure's notice names sql-a (rg-data), web-b (rg-web) and web-gone (rg-web, deleted)
          team-data takes rg-data, team-web rg-web, ops everything (each by email)
    WHEN the notice is enriched and routed
    THEN
        | receiver  | its message names web-gone's note |
        | team-data | no                                |
        | team-web  | yes                               |
        | ops       | yes                               |
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, redeploy_status
from tests.support.truth_oracle import foreign_vm_line, judge
from tests.support.wave_harness import Sent, WaveHarness, wave_harness

NOW = datetime(2030, 3, 2, 9, tzinfo=UTC)
SUBSCRIPTION = "00000000-0000-0000-0000-00000000b001"
CLOSE = NOW + timedelta(days=5)

ROUTING = """\
version: 1
receivers:
  - {name: team-data, type: email, targets: [data@example.com], timezone: Europe/Paris,
     options: {from: forewarn@example.com, smtp_host: smtp.example.com}}
  - {name: team-web, type: email, targets: [web@example.com], timezone: Europe/Paris,
     options: {from: forewarn@example.com, smtp_host: smtp.example.com}}
  - {name: ops, type: webhook, targets: ["https://example.com/hook"],
     options: {secret_setting: X_HOOK}}
route:
  receivers: [ops]
  routes:
    - {match: {resource_groups: [rg-data]}, receivers: [team-data], continue: true}
    - {match: {resource_groups: [rg-web]}, receivers: [team-web], continue: true}
    - {receivers: [ops]}
"""


def vm_id(group: str, name: str) -> str:
    return (
        f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{group}"
        f"/providers/Microsoft.Compute/virtualMachines/{name}"
    )


@pytest.fixture
def wave() -> Iterator[WaveHarness]:
    status = redeploy_status(
        NOW - timedelta(days=1), CLOSE, CLOSE + timedelta(minutes=5), CLOSE + timedelta(hours=8)
    )
    fleet = Fleet().add(
        FleetVm(SUBSCRIPTION, "rg-data", "sql-a", maintenance=dict(status)),
        FleetVm(SUBSCRIPTION, "rg-web", "web-b", maintenance=dict(status)),
    )
    with wave_harness(fleet, NOW, ROUTING) as harness:
        yield harness


def said(sent: Sent) -> str:
    message = sent.job.message
    return " ".join(f"{message.subject} {message.text} {json.dumps(message.payload)}".split())


CASES = [
    # GIVEN receiver   THEN it reads of web-gone
    ("team-data", False),
    ("team-web", True),
    ("ops", True),
]


@pytest.mark.parametrize(("receiver", "reads"), CASES, ids=[c[0] for c in CASES])
def test_a_note_about_a_gone_vm_reaches_that_vms_receivers_only(
    wave: WaveHarness, receiver: str, reads: bool
) -> None:
    ids = [vm_id("rg-data", "sql-a"), vm_id("rg-web", "web-b"), vm_id("rg-web", "web-gone")]
    wave.fleet.impacted[(SUBSCRIPTION, "TRK-N")] = ids  # Resource Health lists all three
    sent = wave.notice(maintenance_event([SUBSCRIPTION], tracking_id="TRK-N"))
    notes = {note.code for s in sent for note in s.enriched.notes if "web-gone" in note.message}
    assert notes == {"vm_gone"}
    [mine] = [s for s in sent if s.job.receiver.name == receiver]
    assert ("web-gone" in said(mine)) is reads, said(mine)[:2000]
    assert not judge(sent, [foreign_vm_line])
