"""The route stage works out an event's facts once per reader, not once per receiver.

Facts depend on a receiver only through its zone and language; five receivers of one event
in one zone made them five times (issue 18), also after facts were kept per event object:
the route stage gave each receiver its own copy of the event (its remaining VMs and notes).

    GIVEN one event and its VMs, receivers...      THEN build_facts gives
    email and Slack, both Europe/Amsterdam, en     the same facts object
    the same, one of them in America/New_York      different facts (their times differ)
    the same zone, but Dutch                       different facts
    the same zone, another list of VMs             different facts
    the event changed by replace (held, silenced)  different facts
    the same VM ids, each receiver's own copies    different facts, each with its own claim
    (claim links)                                  links

    GIVEN a notice routed by the stage to          THEN
    email, SMS, Slack, Teams, webhook in one       the facts are made once for all five, and
    zone                                           each message is the one routed to that
                                                   receiver alone

    GIVEN one reason text with an ISO moment       WHEN its VMs'    THEN
                                                   reasons are read
    on 50 VMs, read in Paris                       by one clock     each VM says it in CEST,
                                                                    worked out once
    the same text read in New York, in Dutch, or   by that clock    each says its own zone,
    a year later                                                    language and year

Receivers with their own remaining VMs or notes keep their own view of the event (and so their
own facts): tests/unit/test_wave_held_notes.py, tests/functional/test_notes_per_receiver.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from shared.models import AdviceReason, Receiver, VirtualMachine
from shared.render import facts as facts_module
from shared.render import vm_facts as vm_facts_module
from shared.render.facts import build_facts
from shared.render.text import ReaderClock
from shared.render.vm_facts import VmFacts
from shared.routing.config import parse_config
from shared.routing.stage import route_event
from shared.standins.enriched_samples import NOW, enriched_with_vms

ENRICHED = enriched_with_vms(20)


def _receiver(channel: str, zone: str = "Europe/Amsterdam", language: str = "en") -> Receiver:
    return Receiver(name=f"r-{channel}", type=channel, targets=[], timezone=zone, language=language)  # type: ignore[arg-type]


def test_receivers_in_one_zone_and_language_share_the_facts() -> None:
    email = build_facts(ENRICHED, _receiver("email"), ENRICHED.vms, NOW)
    assert build_facts(ENRICHED, _receiver("slack"), ENRICHED.vms, NOW) is email


def test_another_zone_language_vm_list_or_event_gets_its_own_facts() -> None:
    email = build_facts(ENRICHED, _receiver("email"), ENRICHED.vms, NOW)
    others = [
        build_facts(ENRICHED, _receiver("slack", zone="America/New_York"), ENRICHED.vms, NOW),
        build_facts(ENRICHED, _receiver("slack", language="nl"), ENRICHED.vms, NOW),
        build_facts(ENRICHED, _receiver("slack"), ENRICHED.vms[:5], NOW),
        build_facts(replace(ENRICHED, notes=[]), _receiver("slack"), ENRICHED.vms, NOW),
    ]
    assert all(other is not email for other in others)
    assert others[0] != email  # New York's clock says other times
    assert len(others[2].vms) == 5


def test_each_receivers_own_copies_of_the_vms_get_their_own_facts() -> None:
    copies = {
        name: [replace(vm, claim_url=f"https://f.example/{name}/{vm.name}") for vm in ENRICHED.vms]
        for name in ("ops", "dba")
    }
    ops = build_facts(ENRICHED, _receiver("email"), copies["ops"], NOW)
    dba = build_facts(ENRICHED, _receiver("slack"), copies["dba"], NOW)
    assert ops is not dba
    assert {vm.vm.claim_url.split("/")[3] for vm in dba.vms if vm.vm.claim_url} == {"dba"}


CHANNELS = ("email", "sms", "slack", "teams", "webhook")


OPTIONS = {
    "email": "{from: forewarn@example.com, smtp_host: smtp.example}, targets: [ops@example.com]",
    "sms": '{account_sid: AC1, auth_token_setting: X_TOKEN, from: "+15005550006"}, '
    'targets: ["+15551234567"]',
    "slack": "{webhook_url_setting: X_SLACK}",
    "teams": "{webhook_url_setting: X_TEAMS}",
    "webhook": "{secret_setting: X_SECRET}, targets: [https://hook.example/in]",
}


def _routing(channels: tuple[str, ...]) -> str:
    lines = ["version: 1", "defaults: {timezone: Europe/Amsterdam}", "receivers:"]
    lines += [f"  - {{name: {c}-team, type: {c}, options: {OPTIONS[c]}}}" for c in channels]
    lines.append(f"route: {{receivers: [{', '.join(f'{c}-team' for c in channels)}]}}")
    return "\n".join(lines) + "\n"


def test_the_route_stage_makes_one_events_facts_once_for_receivers_of_one_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    enriched = enriched_with_vms(20)
    alone = {
        channel: route_event(enriched, parse_config(_routing((channel,))), NOW)[0].message
        for channel in CHANNELS
    }
    made: list[VirtualMachine] = []
    vm_facts = facts_module.vm_facts

    def counted(vm: VirtualMachine, clock: ReaderClock) -> VmFacts:
        made.append(vm)
        return vm_facts(vm, clock)

    monkeypatch.setattr(facts_module, "vm_facts", counted)
    together = route_event(replace(enriched), parse_config(_routing(CHANNELS)), NOW)
    assert len(made) == len(enriched.vms)
    assert {job.receiver.type: job.message for job in together} == alone


REASON = "the self-service window closed at 2020-09-30T00:00:00Z; start it before the window."
REASON_READERS = [
    # GIVEN the reader's zone, language, now        THEN each VM's reason says
    ("Europe/Paris",     "en", NOW,                        "closed at Wed 30 Sep 02:00 CEST;"),
    ("America/New_York", "en", NOW,                        "closed at Tue 29 Sep 20:00 EDT;"),
    ("Europe/Paris",     "nl", NOW,                        "closed at wo 30 sep. 02:00 CEST;"),
    ("Europe/Paris",     "en", NOW + timedelta(days=400),  "closed at Wed 30 Sep 2020 02:00 CEST;"),
]  # fmt: skip


def test_a_reason_shared_by_many_vms_reads_in_each_readers_clock_and_is_worked_out_once() -> None:
    vms = [
        replace(vm, advice=replace(vm.advice, reasons=[AdviceReason("closed", REASON)]))
        for vm in enriched_with_vms(50).vms
    ]
    for zone, language, now, said in REASON_READERS:
        clock = ReaderClock.for_receiver(_receiver("slack", zone, language), now)
        before = vm_facts_module._reader_reason.cache_info()
        reasons = {VmFacts(vm, clock).reasons[0] for vm in vms}
        after = vm_facts_module._reader_reason.cache_info()
        assert len(reasons) == 1 and said in reasons.pop(), (zone, language, now)
        assert after.misses - before.misses <= 1  # the other 49 VMs read it from the cache
