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
from pathlib import Path

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


OTHER = "00000000-0000-0000-0000-00000000b002"

# The sibling: a note about one subscription ("Azure lists no impacted VMs for TRK-S in
# subscription S2; read all 1 VM in East US instead") reaches the receivers of that
# subscription's VMs; one whose VMs are all elsewhere does not read it.
#   GIVEN sql-a (rg-data) in S1, named by Azure; web-c (rg-web) in S2, which Azure names none of
#   THEN | receiver  | reads S2's discovery note |
SUBSCRIPTION_CASES = [
    ("team-data", False),
    ("team-web", True),
    ("ops", True),
]


@pytest.mark.parametrize(
    ("receiver", "reads"), SUBSCRIPTION_CASES, ids=[c[0] for c in SUBSCRIPTION_CASES]
)
def test_a_note_about_a_subscription_reaches_that_subscriptions_receivers(
    wave: WaveHarness, receiver: str, reads: bool
) -> None:
    status = redeploy_status(
        NOW - timedelta(days=1), CLOSE, CLOSE + timedelta(minutes=5), CLOSE + timedelta(hours=8)
    )
    wave.fleet.add(FleetVm(OTHER, "rg-web", "web-c", maintenance=dict(status)))
    wave.fleet.impacted[(SUBSCRIPTION, "TRK-S")] = [vm_id("rg-data", "sql-a")]
    sent = wave.notice(maintenance_event([SUBSCRIPTION, OTHER], tracking_id="TRK-S"))
    notes = {n.message for s in sent for n in s.enriched.notes if n.subscription_id == OTHER}
    assert any(note.startswith("Azure lists no impacted VMs") for note in notes), notes
    [mine] = [s for s in sent if s.job.receiver.name == receiver]
    assert (f"subscription {OTHER}" in said(mine)) is reads, said(mine)[:1500]
    assert not judge(sent, [foreign_vm_line])


# The command line's sibling: `forewarn render` draws a receiver's message as the route stage
# sends it, the notes narrowed the same way.
@pytest.mark.parametrize(("receiver", "reads"), CASES, ids=[c[0] for c in CASES])
def test_render_command_narrows_the_notes_as_the_route_stage_does(
    wave: WaveHarness,
    receiver: str,
    reads: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from shared import names
    from shared.cli import main

    ids = [vm_id("rg-data", "sql-a"), vm_id("rg-web", "web-b"), vm_id("rg-web", "web-gone")]
    wave.fleet.impacted[(SUBSCRIPTION, "TRK-N")] = ids
    (enriched, *_) = {
        s.enriched.event.event_id: s.enriched
        for s in wave.notice(maintenance_event([SUBSCRIPTION], tracking_id="TRK-N"))
    }.values()
    event, routing = tmp_path / "event.json", tmp_path / "routing.yaml"
    event.write_text(json.dumps(enriched.to_json()))
    routing.write_text(ROUTING)
    monkeypatch.delenv(names.STORAGE_CONNECTION, raising=False)
    channel = "webhook" if receiver == "ops" else "email"
    argv = [
        "render",
        "--event",
        str(event),
        "--config",
        str(routing),
        "--now",
        "2030-03-02T09:00:00Z",
    ]
    assert main([*argv, "--channel", channel, "--receiver", receiver]) == 0
    assert ("web-gone" in capsys.readouterr().out) is reads
