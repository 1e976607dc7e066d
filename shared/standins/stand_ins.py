"""What forewarn talks to, on 127.0.0.1, for `forewarn serve` and `forewarn stand-in`: a stand-in
ARM holding the demo fleet, the six stand-in receivers with a routing file aimed at them, the
demo's Log Analytics workspace and, when asked, Azurite (storage).

    with OfflineStandIns(workdir, logs=True, storage=True, announce=print) as stand_ins:
        os.environ.update(stand_ins.settings)   # FOREWARN_ARM_*, FOREWARN_CONFIG, the secrets,
        ...                                     # FOREWARN_LOG_ANALYTICS_*, AzureWebJobsStorage
                                                # each message a receiver gets is announced

Nothing here reaches the internet: the fleet is ``local_stack.demo_fleet()`` (the subscription
of the sample alerts), the receivers are those of ``sinks``, the workspace is
``demo_workspace.seeded_workspace()``.
"""

from __future__ import annotations

import email.policy
import re
import threading
from collections.abc import Callable
from contextlib import ExitStack
from email import message_from_bytes
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from shared import names
from shared.devhost.azurite import Azurite
from shared.standins.arm_server import ArmStandIn
from shared.standins.demo_workspace import seeded_workspace
from shared.standins.local_stack import CHANNEL_ORDER, demo_fleet, routing_for
from shared.standins.loganalytics_server import LogAnalyticsStandIn
from shared.standins.sinks import LocalSinks
from shared.telemetry import escape_controls

Announce = Callable[[str], None]
_SUMMARY_CHARS = 100
_MARKDOWN_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!<>|~])")


class OfflineStandIns:
    def __init__(
        self,
        workdir: Path,
        *,
        arm: bool = True,
        receivers: bool = True,
        logs: bool = False,
        storage: bool = False,
        announce: Announce | None = None,
        poll_seconds: float = 0.2,
    ) -> None:
        self.workdir = workdir
        self.arm: ArmStandIn | None = ArmStandIn(demo_fleet()) if arm else None
        self.sinks: LocalSinks | None = LocalSinks() if receivers else None
        self.logs: LogAnalyticsStandIn | None = seeded_workspace(notices=False) if logs else None
        self._want_storage = storage
        self.storage: Azurite | None = None  # started on entry: a process, not a thread
        self.routing_file = workdir / "routing.yaml"
        self._announce = announce
        self._poll_seconds = poll_seconds
        self._stop = threading.Event()
        self._stack = ExitStack()

    def __enter__(self) -> OfflineStandIns:
        with ExitStack() as stack:
            if self.arm is not None:
                stack.enter_context(self.arm)
            if self.logs is not None:
                stack.enter_context(self.logs)
            if self._want_storage:
                self.storage = stack.enter_context(Azurite.start())
            if self.sinks is not None:
                stack.enter_context(self.sinks)
                self.workdir.mkdir(parents=True, exist_ok=True)
                routing = routing_for(self.sinks, CHANNEL_ORDER)
                self.routing_file.write_text(
                    "# Written by forewarn: every channel's stand-in receiver on 127.0.0.1.\n"
                    + yaml.safe_dump(routing, sort_keys=False),
                    encoding="utf-8",
                )
                if self._announce is not None:
                    watcher = threading.Thread(target=self._watch, daemon=True)
                    watcher.start()
                    stack.callback(watcher.join, 5)
                    stack.callback(self._stop.set)
            self._stack = stack.pop_all()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stack.close()

    @property
    def settings(self) -> dict[str, str]:
        """The settings that point forewarn at these stand-ins."""
        values: dict[str, str] = {}
        if self.arm is not None:
            values[names.SETTING_ARM_ENDPOINT] = self.arm.base_url
            values[names.SETTING_ARM_TOKEN] = self.arm.token
        if self.sinks is not None:
            values[names.SETTING_CONFIG] = str(self.routing_file)
            values.update(self.sinks.environ)
        if self.logs is not None:
            values[names.SETTING_LOG_ANALYTICS_WORKSPACE_ID] = self.logs.workspace_id
            values[names.SETTING_LOG_ANALYTICS_ENDPOINT] = self.logs.base_url
        if self.storage is not None:
            # Microsoft's published development key, not a secret.
            values[names.STORAGE_CONNECTION] = self.storage.connection_string
        return values

    # ---- announcing what arrives ---------------------------------------------------------

    def _watch(self) -> None:
        announced = (*CHANNEL_ORDER, "pagerduty")  # PagerDuty: escalations only
        seen = dict.fromkeys(announced, 0)
        while not self._stop.wait(self._poll_seconds):
            for channel in announced:
                received = self._received(channel)
                for item in received[seen[channel] :]:
                    self._say(f"stand-in {channel} received: {self._summary(channel, item)}")
                seen[channel] = len(received)

    def _say(self, line: str) -> None:
        assert self._announce is not None
        self._announce(escape_controls(line))

    def _received(self, channel: str) -> list[Any]:
        sinks = self.sinks
        assert sinks is not None
        found: dict[str, list[Any]] = {
            "email": sinks.smtp.mails,
            "sms": sinks.twilio.messages,
            "slack": sinks.slack.messages,
            "teams": sinks.teams.cards,
            "webhook": sinks.webhook.deliveries,
            "pagerduty": sinks.pagerduty.events,
        }
        return list(found[channel])

    @staticmethod
    def _summary(channel: str, item: Any) -> str:
        if channel == "email":
            parsed = message_from_bytes(item.raw, policy=email.policy.default)
            text = f"{parsed['Subject']} (to {len(item.rcpt_tos)} recipients)"
        elif channel == "sms":
            text = str(item.body)
        elif channel == "slack":
            text = str(item.text).split("\n", 1)[0]
        elif channel == "teams":
            blocks = [
                b.get("text", "") for b in item.get("body", []) if b.get("type") == "TextBlock"
            ]
            # As Teams shows it: the card's text escapes Markdown ("\\[TEST\\]").
            text = _MARKDOWN_ESCAPE.sub(r"\1", blocks[0]) if blocks else "an Adaptive Card"
        elif channel == "pagerduty":
            payload = item.get("payload") or {}
            text = f"{item.get('event_action')} {payload.get('summary') or item.get('dedup_key')}"
        else:
            document = item.document or {}
            text = (
                f"event {document.get('event_id')}, {len(document.get('vms', []))} VMs, "
                f"signature verified: {item.verified}"
            )
        return text if len(text) <= _SUMMARY_CHARS else text[: _SUMMARY_CHARS - 1] + "…"
