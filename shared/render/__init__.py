"""One renderer per channel: pure functions ``render(enriched, receiver, vms, now)``.

Each channel module declares its limits as data (``LIMITS``) and escapes untrusted text for
its own markup; ``facts`` works out what every message says and ``text`` how times read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from shared.models import ChannelName, EnrichedEvent, Receiver, RenderedMessage, VirtualMachine
from shared.render import email, pagerduty, slack, sms, teams, webhook

Renderer = Callable[[EnrichedEvent, Receiver, list[VirtualMachine], datetime], RenderedMessage]

RENDERERS: Mapping[ChannelName, Renderer] = {
    "email": email.render,
    "sms": sms.render,
    "slack": slack.render,
    "teams": teams.render,
    "webhook": webhook.render,
    "pagerduty": pagerduty.render,
}


def render_message(
    enriched: EnrichedEvent, receiver: Receiver, vms: list[VirtualMachine], now: datetime
) -> RenderedMessage:
    return RENDERERS[receiver.type](enriched, receiver, vms, now)
