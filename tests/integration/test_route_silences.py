"""Silences hold back Azure's own notices in the route stage, and still say a deadline once.

Real parts: silences and the said-once rows live in Azurite's ``silences`` table; the route
stage routes the sample maintenance (web-01, web-02, sql-01, batch-07) to one webhook receiver.
Every silence also matches the test's own tracking id, so tests sharing Azurite never meet.

GIVEN a silence from 2020-09-15 12:00
    | matches       | until              | notice 1 lists          | notice 2 lists |
    | vm=web-*      | 2020-09-20 (before) | sql-01, batch-07        | same           |
    | vm=sql-01     | 2020-10-10 (after)  | all four, a note on sql | web, batch     |
    | vm=*          | 2020-09-20          | no message              | no message     |
(sql-01's deadline, the self-service window's end 2020-09-30, is inside the second silence:
said once, by the first notice, then held.)
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from shared import names
from shared.cli import main
from shared.models import DeliveryJob, EnrichedEvent, Receiver
from shared.render.held import HELD_CODE
from shared.routing.rules import Match, Route, RoutingConfig
from shared.routing.silencing import NOTE_CODE, SilenceGate
from shared.routing.stage import handle_enriched_message
from shared.standins.enriched_samples import NOW, sample_enriched
from shared.storage import Envelope, InMemoryQueuePublisher, StorageServices
from shared.timeutil import format_utc, parse_utc
from shared.wave.notices import OPERATION_PREFIX
from shared.wave.silences import TableSilenceStore, new_silence
from tests.support.azurite import Azurite
from tests.support.truth_oracle import zones_mixed_in

pytestmark = pytest.mark.integration

RECEIVER = Receiver(name="ops-webhook", type="webhook", targets=["https://hooks.example.com/m"])
CONFIG = RoutingConfig(
    receivers={RECEIVER.name: RECEIVER},
    root=Route("root", "/route", Match.from_json(None), None, (RECEIVER.name,)),
)
BEFORE_DEADLINES = parse_utc("2020-09-20T00:00:00Z")
AFTER_SQL_DEADLINE = parse_utc("2020-10-10T00:00:00Z")


@pytest.fixture
def services(azurite: Azurite) -> StorageServices:
    real = StorageServices.from_settings({names.STORAGE_CONNECTION: azurite.connection_string})
    return StorageServices(InMemoryQueuePublisher(), real.payloads, real.table)


def notice(wave: str, **changes: object) -> EnrichedEvent:
    return sample_enriched(tracking_id=wave, event_id=f"sh-{uuid.uuid4().hex}", **changes)


def route(services: StorageServices, enriched: EnrichedEvent) -> list[DeliveryJob]:
    services.courier.send(
        "scratch", Envelope("enriched", enriched.event.event_id, enriched.to_json(), None)
    )
    text = services.queues.messages["scratch"].popleft()  # type: ignore[attr-defined]
    gate = SilenceGate.on_table(services.table(names.TABLE_SILENCES))
    return handle_enriched_message(text, services.courier, CONFIG, NOW, silences=gate)


def silence(services: StorageServices, wave: str, vm: str, until: datetime) -> str:
    made = new_silence({"vm": vm, "tracking_id": wave}, until, NOW, "test")
    TableSilenceStore(services.table(names.TABLE_SILENCES)).put(made)
    return made.id


def vm_names(jobs: list[DeliveryJob]) -> list[str]:
    [job] = jobs
    return sorted(vm["name"] for vm in (job.message.payload or {})["vms"])


def notes_of(jobs: list[DeliveryJob]) -> list[dict[str, str]]:
    [job] = jobs
    return [n for n in (job.message.payload or {})["notes"] if n["code"] == NOTE_CODE]


def test_silenced_vms_are_left_out_of_azures_notices(services: StorageServices) -> None:
    wave = f"WAVE-{uuid.uuid4().hex[:8]}"
    silence(services, wave, "web-*", BEFORE_DEADLINES)
    for _ in range(2):
        jobs = route(services, notice(wave))
        assert vm_names(jobs) == ["batch-07", "sql-01"]
        assert notes_of(jobs) == []


def held_notes(jobs: list[DeliveryJob]) -> list[str]:
    [job] = jobs
    return [n["message"] for n in (job.message.payload or {})["notes"] if n["code"] == HELD_CODE]


# Finding 7 of issue 16: "Azure reboots 2 VMs" while 2 more were held back without a word.
@pytest.mark.parametrize(
    ("vm", "until", "listed", "held"),
    [
        # GIVEN a silence of   until             THEN listed                 AND the note says
        (
            "web-*",
            BEFORE_DEADLINES,
            ["batch-07", "sql-01"],
            "2 VMs held back by silence {id} until 2020-09-20T00:00:00Z (test): web-01, web-02.",
        ),
        (
            "batch-07",
            BEFORE_DEADLINES,
            ["sql-01", "web-01", "web-02"],
            "1 VM held back by silence {id} until 2020-09-20T00:00:00Z (test): batch-07.",
        ),
        ("nothing-*", BEFORE_DEADLINES, ["batch-07", "sql-01", "web-01", "web-02"], None),
    ],
)
def test_a_message_says_how_many_vms_a_silence_held_back_and_until_when(
    services: StorageServices, vm: str, until: datetime, listed: list[str], held: str | None
) -> None:
    wave = f"WAVE-{uuid.uuid4().hex[:8]}"
    silence_id = silence(services, wave, vm, until)
    jobs = route(services, notice(wave))
    assert vm_names(jobs) == listed
    assert held_notes(jobs) == ([held.format(id=silence_id)] if held else [])


def test_a_deadline_inside_a_silence_is_said_once(services: StorageServices) -> None:
    wave = f"WAVE-{uuid.uuid4().hex[:8]}"
    silence_id = silence(services, wave, "sql-01", AFTER_SQL_DEADLINE)
    first = notice(wave)
    jobs = route(services, first)
    assert vm_names(jobs) == ["batch-07", "sql-01", "web-01", "web-02"]
    [note] = notes_of(jobs)
    assert note["message"].startswith(f"sql-01: Sent despite silence {silence_id}")
    # The same event routed again (a retry) says it again: delivery drops the repeat.
    assert vm_names(route(services, first)) == vm_names(jobs)
    # A later notice of the wave: said already, so held back.
    later = route(services, notice(wave, stage="Rescheduled"))
    assert vm_names(later) == ["batch-07", "web-01", "web-02"]
    assert notes_of(later) == []


def test_a_receiver_whose_vms_are_all_silenced_gets_no_message(
    services: StorageServices,
) -> None:
    wave = f"WAVE-{uuid.uuid4().hex[:8]}"
    silence(services, wave, "*", BEFORE_DEADLINES)
    assert route(services, notice(wave)) == []


@pytest.mark.parametrize(
    ("why", "change", "until"),
    [
        (
            "the wave timers' events were judged where they were made",
            {"operation_name": f"{OPERATION_PREFIX}vm_added"},
            BEFORE_DEADLINES,
        ),
        ("an ended silence holds nothing", {}, NOW - timedelta(minutes=1)),
    ],
)
def test_what_silences_leave_alone(
    services: StorageServices, why: str, change: dict[str, object], until: datetime
) -> None:
    wave = f"WAVE-{uuid.uuid4().hex[:8]}"
    silence(services, wave, "*", until)
    jobs = route(services, notice(wave, **change))
    assert vm_names(jobs) == ["batch-07", "sql-01", "web-01", "web-02"], why


def test_a_deadline_said_under_another_waves_silence_is_still_said_once_under_this_one(
    services: StorageServices,
) -> None:
    # GIVEN sql-01's deadline said once, under a silence of wave A
    wave_a, wave_b = (f"WAVE-{uuid.uuid4().hex[:8]}" for _ in range(2))
    silence(services, wave_a, "sql-01", AFTER_SQL_DEADLINE)
    assert len(notes_of(route(services, notice(wave_a)))) == 1
    # WHEN wave B, under a silence of its own, lists the same VM and deadline
    silence_b = silence(services, wave_b, "sql-01", AFTER_SQL_DEADLINE)
    jobs = route(services, notice(wave_b))
    # THEN wave B's silence says it once too: wave A's silence never held this notice
    assert vm_names(jobs) == ["batch-07", "sql-01", "web-01", "web-02"]
    [note] = notes_of(jobs)
    assert note["message"].startswith(f"sql-01: Sent despite silence {silence_b}")


ROUTING_FILE = """\
version: 1
receivers:
  - name: ops-webhook
    type: webhook
    targets: [https://hooks.example.com/m]
    options: {secret_setting: FOREWARN_WEBHOOK_SIGNING_SECRET}
route:
  receivers: [ops-webhook]
"""


# Finding 7 of issue 16: `forewarn route` showed receivers as if no silence existed.
@pytest.mark.parametrize(
    ("vm", "listed", "held"),
    [
        # GIVEN a silence of   THEN route lists                 AND shows held
        ("web-*", ["batch-07", "sql-01"], ["web-01", "web-02"]),
        ("nothing-*", ["batch-07", "sql-01", "web-01", "web-02"], []),
    ],
)
def test_route_command_applies_silences_and_shows_the_held_vms(
    services: StorageServices,
    azurite: Azurite,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    vm: str,
    listed: list[str],
    held: list[str],
) -> None:
    wave = f"WAVE-{uuid.uuid4().hex[:8]}"
    silence_id = silence(services, wave, vm, BEFORE_DEADLINES)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(notice(wave).to_json()))
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING_FILE)
    monkeypatch.setenv(names.STORAGE_CONNECTION, azurite.connection_string)
    argv = ["route", "--event", str(event), "--config", str(routing), "--now", format_utc(NOW)]
    assert main([*argv, "--json"]) == 0
    [decision] = json.loads(capsys.readouterr().out)
    assert (sorted(decision["vms"]), decision["held"]) == (listed, held)
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert (f"held back by silence {silence_id}" in text) is bool(held)
    assert f"ops-webhook (webhook): {len(listed)} VMs" in text


# Outside review of issue 16: `forewarn render` ("what would be sent") drew every VM, with no
# held-back note, while `route` and the route stage held the silenced VMs back.
@pytest.mark.parametrize(
    ("vm", "shown", "note"),
    [
        # GIVEN a silence of   THEN render's webhook document lists     AND says held back
        ("web-*", ["batch-07", "sql-01"], "2 VMs held back by silence"),
        ("nothing-*", ["batch-07", "sql-01", "web-01", "web-02"], None),
    ],
)
def test_render_command_applies_silences_as_the_route_stage_does(
    services: StorageServices,
    azurite: Azurite,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    vm: str,
    shown: list[str],
    note: str | None,
) -> None:
    wave = f"WAVE-{uuid.uuid4().hex[:8]}"
    silence(services, wave, vm, BEFORE_DEADLINES)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(notice(wave).to_json()))
    routing = tmp_path / "routing.yaml"
    routing.write_text(ROUTING_FILE)
    monkeypatch.setenv(names.STORAGE_CONNECTION, azurite.connection_string)
    argv = ["render", "--event", str(event), "--config", str(routing), "--now", format_utc(NOW)]
    # WHEN rendered for the webhook receiver
    assert main([*argv, "--channel", "webhook"]) == 0
    document = json.loads(capsys.readouterr().out)["payload"]
    # THEN it is the message the stage would send: the kept VMs, and the note when held
    assert sorted(v["name"] for v in document["vms"]) == shown
    notes = " ".join(n["message"] for n in document["notes"])
    assert (note is not None and note in notes) or (note is None and "held back" not in notes)


# One zone per message: the held-back note says until when in the receiver's zone, as the
# message says every other moment; the webhook keeps ISO 8601 for programs.
def _every_channel_in(zone: str) -> RoutingConfig:
    receivers = {
        "mail": Receiver("mail", "email", ["ops@example.com"], timezone=zone),
        "chat": Receiver("chat", "slack", [], timezone=zone),
        "room": Receiver("room", "teams", [], timezone=zone),
        RECEIVER.name: RECEIVER,
    }
    return RoutingConfig(
        receivers=receivers,
        root=Route("root", "/route", Match.from_json(None), None, tuple(receivers)),
    )


def test_the_held_back_note_says_until_when_in_each_receivers_zone(
    services: StorageServices,
) -> None:
    wave = f"WAVE-{uuid.uuid4().hex[:8]}"
    # GIVEN a silence of web-* until 2020-09-20 00:00 UTC (02:00 in Paris, CEST)
    silence_id = silence(services, wave, "web-*", BEFORE_DEADLINES)
    enriched = notice(wave)
    services.courier.send(
        "scratch", Envelope("enriched", enriched.event.event_id, enriched.to_json(), None)
    )
    text = services.queues.messages["scratch"].popleft()  # type: ignore[attr-defined]
    gate = SilenceGate.on_table(services.table(names.TABLE_SILENCES))
    # WHEN Azure's notice is routed to receivers in Paris on each channel, and a webhook
    jobs = handle_enriched_message(
        text, services.courier, _every_channel_in("Europe/Paris"), NOW, silences=gate
    )
    said = {job.receiver.name: job.message.text + json.dumps(job.message.payload) for job in jobs}
    # THEN each person reads the note in Paris time, the webhook in ISO 8601
    local = f"2 VMs held back by silence {silence_id} until Sun 20 Sep 02:00 CEST (test)"
    for name in ("mail", "chat", "room"):
        assert local in " ".join(said[name].split()), (name, said[name])
        assert not zones_mixed_in(said[name], "Europe/Paris"), name
    assert "until 2020-09-20T00:00:00Z (test): web-01, web-02." in said[RECEIVER.name]
