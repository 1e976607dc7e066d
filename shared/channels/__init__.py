"""One sender per channel, each behind ``ChannelSender.send(job) -> DeliveryResult``.

    email.EmailSender     smtplib: STARTTLS, AUTH
    sms.SmsSender         the twilio library (Messages API)
    slack.SlackSender     requests: incoming webhook or chat.postMessage
    teams.TeamsSender     requests: Workflows webhook with an Adaptive Card
    webhook.WebhookSender requests: signed JSON document with an Idempotency-Key
    pagerduty.PagerDutySender requests: Events API v2, one event per VM (trigger, resolve)

Whether a failure is worth a retry is decided in ``retry`` only.
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.channels.base import (
    ChannelConfigError,
    ChannelError,
    ChannelLimits,
    ChannelSender,
    OversizeMessageError,
)
from shared.delivery.results import DeliveryResult, mask_target, mask_targets
from shared.models import ChannelName
from shared.timeutil import Clock, utc_now

__all__ = [
    "ChannelConfigError",
    "ChannelError",
    "ChannelLimits",
    "ChannelSender",
    "DeliveryResult",
    "OversizeMessageError",
    "default_senders",
    "mask_target",
    "mask_targets",
]


def default_senders(
    environ: Mapping[str, str], *, clock: Clock = utc_now
) -> dict[ChannelName, ChannelSender]:
    """The real senders, resolving receivers' secrets from ``environ`` at send time."""
    from shared.channels.email import EmailSender
    from shared.channels.pagerduty import PagerDutySender
    from shared.channels.slack import SlackSender
    from shared.channels.sms import SmsSender
    from shared.channels.teams import TeamsSender
    from shared.channels.webhook import WebhookSender

    return {
        "email": EmailSender(environ, clock=clock),
        "sms": SmsSender(environ, clock=clock),
        "slack": SlackSender(environ, clock=clock),
        "teams": TeamsSender(environ, clock=clock),
        "webhook": WebhookSender(environ, clock=clock),
        "pagerduty": PagerDutySender(environ, clock=clock),
    }
