"""A wave pass's "N VMs held back by silence …" note names, to each receiver, the held VMs of
its own only (shared/wave/runner.py says it, the route stage keeps each receiver's): a team must
not read another team's VM names, nor count them. The route stage's own note, on Azure's
notices (shared/routing/silencing.py), is each receiver's too. On the wave of
test_wave_summary_lines.py: web-1 and web-2 in rg-web, db-1 and db-2 in rg-data, a silence on
web-2 and db-2."""

from __future__ import annotations

from dataclasses import replace
from typing import cast

import pytest

from shared import names
from shared.enrich.services import EnrichmentServices
from shared.models import EnrichedEvent, VirtualMachine
from shared.routing.config import parse_config
from shared.routing.silencing import SilenceGate
from shared.routing.stage import route_receivers
from shared.storage import StorageServices
from shared.wave.notices import Notice, notice_events
from shared.wave.records import InMemoryRecordStore
from shared.wave.reminders import ReminderOffsets, due_reminders, reminder_notice
from shared.wave.report import PassReport
from shared.wave.runner import WaveRunner
from shared.wave.silences import (
    InMemorySilenceStore,
    TableSilenceStore,
    new_silence,
    parse_match,
)
from tests.support.truth_oracle import strings
from tests.unit.test_wave_reminders import CLOSES, H, record
from tests.unit.test_wave_summary_lines import _routing

NOW = CLOSES - 23 * H
AZURE_OPERATION = "Microsoft.ResourceHealth/healthevent/Activated/action"


def _named(vm: VirtualMachine, name: str, group: str) -> VirtualMachine:
    vm_id = vm.id.replace("/resourceGroups/rg-web/", f"/resourceGroups/{group}/")
    return replace(vm, id=vm_id.replace("/web-1", f"/{name}"), name=name, resource_group=group)


def _reminders() -> list[Notice]:
    [reminder, *_] = due_reminders([record()], NOW, ReminderOffsets())
    web = reminder_notice(reminder, reminder.record)
    where = {"web-1": "rg-web", "web-2": "rg-web", "db-1": "rg-data", "db-2": "rg-data"}
    return [replace(web, vm=_named(web.vm, name, group)) for name, group in where.items()]


def _published(channel: str) -> tuple[EnrichedEvent, str]:
    """The event a reminders pass put on the queue, web-2 and db-2 held by one silence."""
    storage = StorageServices.in_memory()
    silences = InMemorySilenceStore()
    silence = new_silence(parse_match("vm=*-2"), CLOSES - 12 * H, NOW - H, "")
    silences.put(silence)
    runner = WaveRunner(
        cast(EnrichmentServices, None),  # publish reads no ARM
        InMemoryRecordStore(),
        parse_config(_routing(channel)),
        storage.courier,
        silences=silences,
    )
    runner.publish(_reminders(), [], NOW, PassReport([]))
    [text] = list(storage.queues.drain(names.QUEUE_ENRICHED))  # type: ignore[attr-defined]
    return EnrichedEvent.from_json(storage.courier.open(text).body), silence.id


HELD = "held back by silence {id} until {until}: {names}."
# The note says its moment as its receiver reads times; the webhook keeps ISO 8601.
UNTIL = {"webhook": "2030-03-30T21:00:00Z"}
CASES = [
    # GIVEN receiver   THEN its held-back note says              and never names
    ("web-team", "1 VM " + HELD.replace("{names}", "web-2"), "db-2"),
    ("data-team", "1 VM " + HELD.replace("{names}", "db-2"), "web-2"),
    ("everyone", "2 VMs " + HELD.replace("{names}", "db-2, web-2"), None),
]


@pytest.mark.parametrize("channel", ["email", "slack", "teams", "webhook"])
@pytest.mark.parametrize(("receiver", "note", "unnamed"), CASES, ids=[c[0] for c in CASES])
def test_each_receiver_reads_the_held_back_note_of_its_own_vms_only(
    channel: str, receiver: str, note: str, unnamed: str | None
) -> None:
    # GIVEN a reminder about web-1, web-2 (the web team's) and db-1, db-2 (the data team's),
    # with web-2 and db-2 silenced; WHEN the pass publishes it and the route stage routes it
    enriched, silence_id = _published(channel)
    routed = route_receivers(enriched, parse_config(_routing(channel)), NOW)
    [message] = [job.message for job in routed.jobs if job.receiver.name == receiver]
    text = " ".join([message.subject, message.text, *strings(message.payload or {})])
    text = " ".join(text.split())  # an email's text part wraps the note
    # THEN the receiver's note names and counts its own held VMs, never the other team's
    assert note.format(id=silence_id, until=UNTIL.get(channel, "Sat 30 Mar 21:00 UTC")) in text
    if unnamed is not None:
        assert unnamed not in text


def _routed_by_the_gate(channel: str) -> tuple[dict[str, str], str]:
    """Azure's own notice of the four VMs, routed through the stage's silence gate."""
    [(wave_event, _)] = notice_events(_reminders(), NOW)
    # Azure's notice: its own operation, and no wave summary (a line per VM) of the timers'
    azure = replace(wave_event.event, operation_name=AZURE_OPERATION, summary="")
    enriched = replace(wave_event, event=azure, notes=[])
    storage = StorageServices.in_memory()
    table = storage.table(names.TABLE_SILENCES)
    silence = new_silence(parse_match("vm=*-2"), CLOSES - 12 * H, NOW - H, "")
    TableSilenceStore(table).put(silence)
    gate = SilenceGate.on_table(table)
    routed = route_receivers(enriched, parse_config(_routing(channel)), NOW, gate=gate)
    texts = {}
    for job in routed.jobs:
        message = job.message
        text = " ".join([message.subject, message.text, *strings(message.payload or {})])
        texts[job.receiver.name] = " ".join(text.split())
    return texts, silence.id


@pytest.mark.parametrize("channel", ["email", "slack", "teams", "webhook"])
@pytest.mark.parametrize(("receiver", "note", "unnamed"), CASES, ids=[c[0] for c in CASES])
def test_the_route_stages_own_held_back_note_is_each_receivers_too(
    channel: str, receiver: str, note: str, unnamed: str | None
) -> None:
    # GIVEN Azure's notice of web-1, web-2, db-1, db-2, web-2 and db-2 silenced; WHEN the route
    # stage holds them back; THEN each receiver's note names and counts its own held VMs only
    texts, silence_id = _routed_by_the_gate(channel)
    assert (
        note.format(id=silence_id, until=UNTIL.get(channel, "Sat 30 Mar 21:00 UTC"))
        in texts[receiver]
    )
    if unnamed is not None:
        assert unnamed not in texts[receiver]
