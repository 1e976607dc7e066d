"""The preview page draws what each channel shows: Slack's reply, Teams' Details, escapes undone.

GIVEN the real sample rendered for every channel (and a notice title with markup in it), WHEN
the preview page is built, THEN the Slack details are drawn as a thread under the top message,
the Teams Details card as a disclosure, and escaped text reads as the recipient sees it (no
stray backslashes), still HTML-escaped (no live markup).
"""

from __future__ import annotations

from typing import cast

from shared.models import ChannelName, Receiver
from shared.render import render_message
from shared.render.preview import build_preview
from shared.standins.enriched_samples import NOW, sample_enriched


def preview(title: str = "Azure Synapse Analytics Scheduled Maintenance Pending") -> str:
    enriched = sample_enriched(title=title)
    messages = []
    for channel in ("email", "slack", "teams", "sms", "webhook"):
        receiver = Receiver(name=channel, type=cast(ChannelName, channel), targets=[])
        messages.append((receiver, render_message(enriched, receiver, enriched.vms, NOW)))
    return build_preview(messages, "preview")


def test_the_slack_reply_and_the_teams_details_are_drawn() -> None:
    page = preview()
    assert '<div class="sl-replies">1 reply</div><div class="sl-thread">' in page
    assert '<details class="tm-show"><summary class="tm-action">Details</summary>' in page
    # the details are inside the disclosure, after the card's face
    assert page.index("tm-show") < page.index("Self-service window", page.index("tm-show"))


def test_teams_escapes_read_as_text_and_stay_inert() -> None:
    page = preview(title="Maintenance <at>Everyone</at> [x](http://evil.example)")
    teams = page[page.index('id="channel-teams"') : page.index('id="channel-sms"')]
    assert "&lt;at&gt;Everyone&lt;/at&gt;" in teams
    assert "\\&lt;" not in teams and "<at>" not in teams
    assert "Tracking ID &lt;GUID&gt;" in teams
