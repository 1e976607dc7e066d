"""All six stand-in receivers at once, and how to point receivers at them.

    with LocalSinks() as sinks:
        os.environ.update(sinks.environ)              # the secrets, by setting name
        receiver = sinks.receiver("sms")              # a Receiver aimed at the Twilio stand-in
        ...
        sinks.count("sms")                            # messages each stand-in accepted

``environ`` holds the secret settings the receivers' ``*_setting`` options name; ``options``
and ``targets`` are what a routing file would say for each channel (the demo writes them out).
"""

from __future__ import annotations

from contextlib import ExitStack
from types import TracebackType
from typing import Any

from shared import names
from shared.models import ChannelName, Receiver
from shared.standins import (
    pagerduty_server,
    slack_server,
    smtp_server,
    twilio_server,
    webhook_server,
)
from shared.standins.pagerduty_server import PagerDutyStandIn
from shared.standins.slack_server import SlackStandIn
from shared.standins.smtp_server import SmtpStandIn
from shared.standins.teams_server import TeamsStandIn
from shared.standins.twilio_server import TwilioStandIn
from shared.standins.webhook_server import WebhookStandIn

SETTING_SMTP_PASSWORD = "FOREWARN_SINK_SMTP_PASSWORD"
SETTING_TWILIO_TOKEN = "FOREWARN_SINK_TWILIO_TOKEN"
SETTING_SLACK_TOKEN = "FOREWARN_SINK_SLACK_TOKEN"
SETTING_SLACK_WEBHOOK_URL = "FOREWARN_SINK_SLACK_WEBHOOK_URL"
SETTING_TEAMS_URL = "FOREWARN_SINK_TEAMS_URL"
SETTING_WEBHOOK_SECRET = "FOREWARN_SINK_WEBHOOK_SECRET"
SETTING_PAGERDUTY_KEY = "FOREWARN_SINK_PAGERDUTY_ROUTING_KEY"


class LocalSinks:
    def __init__(self, *, timeout_seconds: float = 5.0) -> None:
        self.smtp = SmtpStandIn()
        self.twilio = TwilioStandIn()
        self.slack = SlackStandIn()
        self.teams = TeamsStandIn()
        self.webhook = WebhookStandIn()
        self.pagerduty = PagerDutyStandIn()
        self._timeout = str(timeout_seconds)
        self._stack = ExitStack()

    def __enter__(self) -> LocalSinks:
        with ExitStack() as stack:
            for sink in (
                self.smtp,
                self.twilio,
                self.slack,
                self.teams,
                self.webhook,
                self.pagerduty,
            ):
                stack.enter_context(sink)
            self._stack = stack.pop_all()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stack.close()

    def reset(self) -> None:
        for sink in (self.smtp, self.twilio, self.slack, self.teams, self.webhook, self.pagerduty):
            sink.reset()

    @property
    def environ(self) -> dict[str, str]:
        return {
            SETTING_SMTP_PASSWORD: smtp_server.PASSWORD,
            SETTING_TWILIO_TOKEN: twilio_server.AUTH_TOKEN,
            SETTING_SLACK_TOKEN: slack_server.BOT_TOKEN,
            # The stand-in Slack app's: its button presses (slack_server.press) are signed with it.
            names.SETTING_SLACK_SIGNING_SECRET: slack_server.SIGNING_SECRET,
            SETTING_SLACK_WEBHOOK_URL: self.slack.webhook_url,
            SETTING_TEAMS_URL: self.teams.workflow_url,
            SETTING_WEBHOOK_SECRET: webhook_server.SECRET,
            SETTING_PAGERDUTY_KEY: pagerduty_server.ROUTING_KEY,
        }

    @property
    def options(self) -> dict[ChannelName, dict[str, str]]:
        return {
            "email": {
                "smtp_host": self.smtp.host,
                "smtp_port": str(self.smtp.port),
                "tls": "starttls",
                "ca_file": self.smtp.ca_file,
                "username": smtp_server.USERNAME,
                "password_setting": SETTING_SMTP_PASSWORD,
                "from": "forewarn@example.com",
                "ehlo_name": "forewarn.test",
                "timeout": self._timeout,
            },
            "sms": {
                "account_sid": twilio_server.ACCOUNT_SID,
                "auth_token_setting": SETTING_TWILIO_TOKEN,
                "from": twilio_server.FROM_NUMBER,
                "api_base": self.twilio.api_base,
                "timeout": self._timeout,
            },
            "slack": {
                "token_setting": SETTING_SLACK_TOKEN,
                "api_base": self.slack.api_base,
                "timeout": self._timeout,
            },
            "teams": {"webhook_url_setting": SETTING_TEAMS_URL, "timeout": self._timeout},
            "webhook": {"secret_setting": SETTING_WEBHOOK_SECRET, "timeout": self._timeout},
            "pagerduty": {
                "routing_key_setting": SETTING_PAGERDUTY_KEY,
                "api_base": self.pagerduty.api_base,
                "timeout": self._timeout,
            },
        }

    @property
    def slack_webhook_options(self) -> dict[str, str]:
        return {"webhook_url_setting": SETTING_SLACK_WEBHOOK_URL, "timeout": self._timeout}

    @property
    def targets(self) -> dict[ChannelName, list[str]]:
        return {
            "email": ["ops@example.com", "oncall@example.com"],
            "sms": ["+15551230001", "+15551230002"],
            "slack": [slack_server.CHANNELS[0]],
            "teams": [],
            "webhook": [self.webhook.url],
            "pagerduty": [],
        }

    def receiver(self, channel: ChannelName, name: str | None = None, **changes: Any) -> Receiver:
        fields: dict[str, Any] = {
            "name": name or f"{channel}-sink",
            "type": channel,
            "targets": list(self.targets[channel]),
            "options": dict(self.options[channel]),
        }
        fields.update(changes)
        return Receiver(**fields)

    def count(self, channel: ChannelName) -> int:
        """Messages the stand-in accepted (SMS and email count one per target reached)."""
        if channel == "email":
            return sum(len(mail.rcpt_tos) for mail in self.smtp.mails)
        if channel == "sms":
            return len(self.twilio.messages)
        if channel == "slack":  # top messages: a details reply is part of its message
            return sum(1 for message in self.slack.messages if message.thread_ts is None)
        if channel == "teams":
            return len(self.teams.cards)
        if channel == "pagerduty":  # events accepted (one per VM), triggers and resolves
            return len(self.pagerduty.events)
        return len(self.webhook.deliveries)
