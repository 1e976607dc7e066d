"""Finding 4 (issue 16): a notice the catch-up recovered says so on every channel.

GIVEN the sample maintenance       WHEN rendered for     THEN
recovered from the Activity Log    email, Slack, Teams   one line says the alert webhook never
                                                         arrived and where it came from
                                   SMS                   the short form of that line
                                   webhook               event.recovered is true
received by the webhook            any channel           no such line; recovered is false
"""

from __future__ import annotations

import json
from typing import cast

import pytest

from shared.models import ChannelName, Receiver
from shared.render import render_message
from shared.render.facts import RECOVERED_LINE
from shared.render.sms import RECOVERED_SMS
from shared.standins.enriched_samples import sample_enriched
from tests.unit.test_render_glance import NOW

CHANNELS = ["email", "slack", "teams", "sms", "webhook"]
LINE = {"sms": RECOVERED_SMS, "webhook": '"recovered": true'}


def everything(message: object) -> str:
    """Every text a channel sends: subject, text, HTML and its JSON payload."""
    parts = [getattr(message, name) or "" for name in ("subject", "text", "html")]
    payload = getattr(message, "payload", None)
    if payload is not None:
        parts.append(json.dumps(payload))
    return "\n".join(str(part) for part in parts)


@pytest.mark.parametrize("recovered", [True, False], ids=["recovered", "received"])
@pytest.mark.parametrize("channel", CHANNELS)
def test_a_recovered_notice_says_so_on_every_channel(channel: str, recovered: bool) -> None:
    enriched = sample_enriched(recovered=recovered)
    receiver = Receiver("r", cast(ChannelName, channel), [], timezone="Europe/Paris")
    message = render_message(enriched, receiver, enriched.vms, NOW)
    line = LINE.get(channel, RECOVERED_LINE)
    text = everything(message)
    assert (line in text) is recovered, text[:3000]
    if channel == "webhook":
        assert message.payload is not None
        assert message.payload["event"]["recovered"] is recovered


# GIVEN gathered notices (one per subscription)   THEN the one message is recovered when
#   received + recovered (either order)            any of them was: it says so
#   received + received                            none was
@pytest.mark.parametrize(
    ("flags", "recovered"),
    [((False, True), True), ((True, False), True), ((False, False), False)],
)
def test_a_gathered_message_is_recovered_when_any_of_its_notices_was(
    flags: tuple[bool, bool], recovered: bool
) -> None:
    from dataclasses import replace

    from shared.routing.gather import merge_events

    first = sample_enriched(recovered=flags[0])
    second = replace(
        first, event=replace(sample_enriched().event, event_id="other", recovered=flags[1])
    )
    merged = merge_events([first, second], "group-1", NOW)
    assert merged.event.recovered is recovered
