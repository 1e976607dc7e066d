"""The route stage works out an event's facts once per reader, not once per receiver.

Facts depend on a receiver only through its zone and language; five receivers of one event
in one zone made them five times (issue 18).

    GIVEN one event and its VMs, receivers...      THEN build_facts gives
    email and Slack, both Europe/Amsterdam, en     the same facts object
    the same, one of them in America/New_York      different facts (their times differ)
    the same zone, but Dutch                       different facts
    the same zone, another list of VMs             different facts
    the event changed by replace (held, silenced)  different facts
"""

from __future__ import annotations

from dataclasses import replace

from shared.models import Receiver
from shared.render.facts import build_facts
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
