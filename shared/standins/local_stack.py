"""The whole product on 127.0.0.1: Azurite, a stand-in ARM, the five stand-in receivers, and
the real ``function_app`` on the dev host. Used by `forewarn demo`, the end-to-end tests and
the pipeline benchmark.

    with LocalStack(demo_fleet(), workdir=tmp) as stack:
        answer = stack.post_alert(payload)
        stack.wait_for_deliveries(expected=5, timeout_seconds=60)
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
import yaml

from shared import names
from shared.devhost.azurite import Azurite, free_port
from shared.devhost.host import DevHost
from shared.devhost.settings import QueueOptions
from shared.models import ChannelName
from shared.standins.arm_fleet import Fleet, FleetVm, window_from
from shared.standins.arm_server import ArmStandIn
from shared.standins.samples import forewarn_sample
from shared.standins.sinks import LocalSinks

DEMO_SUBSCRIPTION = "11111111-1111-1111-1111-111111111111"
CHANNEL_ORDER: tuple[ChannelName, ...] = ("email", "sms", "slack", "teams", "webhook")
ESCALATION_RECEIVER = "pagerduty-demo"
FUNCTION_KEY = "local-stack-alerts-key"
SCHEDULED_EVENTS_KEY = "local-stack-scheduled-events-key"  # the forwarders' (loopback only)
BOARD_READ_KEY = "local-stack-board-read-key"  # opens /api/waves/... (loopback only)


def sample_alert(*, about_vms: bool = True, communication_id: str | None = None) -> dict[str, Any]:
    """Microsoft's Service Health maintenance sample in a common-schema envelope; by default the
    variant about Virtual Machines (samples/forewarn/SOURCES.md says what changed).

    A ``communication_id`` makes it a new notification (a new event id) of a wave of its own
    (a new tracking id), for tests that share one storage account: forewarn rightly sends an
    event it has delivered only once, and threads a wave's later notices under its first.
    """
    name = "common-servicehealth-maintenance-planned" + ("-vms" if about_vms else "") + ".json"
    loaded: dict[str, Any] = forewarn_sample(name)
    if communication_id is not None:
        properties = loaded["data"]["alertContext"]["properties"]
        properties["communicationId"] = communication_id
        properties["trackingId"] = f"WAVE-{communication_id[:12]}"
    return loaded


def demo_fleet(now: datetime | None = None, *, extra_vms: int = 0) -> Fleet:
    """VMs in East US of the sample's subscription, one of each case Azure's guidance names."""
    start = (now or datetime.now(UTC)) - timedelta(days=1)
    sub = DEMO_SUBSCRIPTION
    fleet = Fleet()
    fleet.add(
        FleetVm(
            sub,
            "rg-shop-prod",
            "web-01",
            availability_set="as-web",
            update_domain=0,
            tags={"env": "prod", "tier": "web"},
            maintenance=window_from(start),
        ),
        FleetVm(
            sub,
            "rg-shop-prod",
            "web-02",
            availability_set="as-web",
            update_domain=1,
            tags={"env": "prod", "tier": "web"},
            maintenance=window_from(start),
        ),
        FleetVm(
            sub,
            "rg-shop-prod",
            "sql-01",
            update_domain=0,
            tags={"env": "prod", "tier": "db", "owner": "<!channel> dba@example.com"},
            maintenance=window_from(start, days=10),
        ),
        FleetVm(
            sub,
            "rg-shop-prod",
            "sql-02",
            update_domain=1,
            tags={"env": "prod", "tier": "db"},
            maintenance=window_from(start, days=10),
        ),
        FleetVm(
            sub,
            "rg-lab-dev",
            "build-agent",
            tags={"env": "dev"},
            auto_shutdown=True,
            maintenance=window_from(start, days=20),
        ),
        FleetVm(sub, "rg-shop-prod", "cache-01", tags={"env": "prod"}),  # nothing planned
    )
    for index in range(extra_vms):
        fleet.add(
            FleetVm(
                sub,
                f"rg-bulk-{index % 10}",
                f"bulk-{index:04d}",
                update_domain=index % 5,
                tags={"env": "prod"},
                maintenance=window_from(start, days=14),
            )
        )
    return fleet


def routing_for(sinks: LocalSinks, channels: tuple[ChannelName, ...]) -> dict[str, Any]:
    receivers = [
        {
            "name": f"{channel}-demo",
            "type": channel,
            **({"targets": sinks.targets[channel]} if sinks.targets[channel] else {}),
            "options": sinks.options[channel],
        }
        for channel in channels
    ]
    if receivers:
        # The PagerDuty stand-in takes escalations only (issue 21): the first receiver's VMs
        # that nobody claimed or started a day before their self-service window closes.
        receivers[0]["escalate"] = {"to": ESCALATION_RECEIVER, "before": "24h"}
        receivers.append(
            {
                "name": ESCALATION_RECEIVER,
                "type": "pagerduty",
                "options": sinks.options["pagerduty"],
            }
        )
    return {
        "version": 1,
        "defaults": {"timezone": "Europe/Amsterdam", "language": "en"},
        "receivers": receivers,
        "route": {"receivers": [r["name"] for r in receivers if r["name"] != ESCALATION_RECEIVER]},
    }


def clear_queues(connection_string: str) -> None:
    """A stack starts with empty trigger queues, even on an Azurite other tests have used:
    messages those tests left behind would otherwise be delivered to this stack's receivers."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.queue import QueueClient

    for queue in names.ALL_QUEUES:
        with contextlib.suppress(ResourceNotFoundError):
            QueueClient.from_connection_string(connection_string, queue).clear_messages()


def reset_function_caches() -> None:
    from functions import actions, board, deliver, enrich, ingest, route, scheduled_events, slack

    for cached in (
        actions._service,
        board._service,
        ingest._ingestor,
        enrich._stage,
        route._stage,
        deliver._stage,
        scheduled_events._intake,
        slack._service,
    ):
        cached.cache_clear()


class LocalStack:
    def __init__(
        self,
        fleet: Fleet,
        *,
        workdir: Path,
        channels: tuple[ChannelName, ...] = CHANNEL_ORDER,
        azurite: Azurite | None = None,
        arm_latency: float = 0.0,
        queue_options: QueueOptions | None = None,
        quiet: bool = False,
    ) -> None:
        self._quiet = quiet
        self.fleet = fleet
        self.workdir = workdir
        self.channels = channels
        self._given_azurite = azurite
        self.azurite: Azurite | None = azurite
        self.sinks = LocalSinks()
        self.arm = ArmStandIn(fleet, latency=arm_latency)
        self._queue_options = queue_options or QueueOptions(
            batch_size=16,
            max_dequeue_count=names.MAX_DEQUEUE_COUNT,
            visibility_timeout_seconds=2,
            max_polling_interval_seconds=0.25,
        )
        self._stack = ExitStack()
        self._saved_environ: dict[str, str | None] = {}
        self.host: DevHost | None = None

    # ---- lifecycle -------------------------------------------------------------------
    def __enter__(self) -> LocalStack:
        with ExitStack() as stack:
            if self.azurite is None:
                self.azurite = stack.enter_context(Azurite.start())
            clear_queues(self.azurite.connection_string)
            stack.enter_context(self.sinks)
            stack.enter_context(self.arm)
            self.workdir.mkdir(parents=True, exist_ok=True)
            config = self.workdir / "routing.yaml"
            config.write_text(
                yaml.safe_dump(routing_for(self.sinks, self.channels), sort_keys=False),
                encoding="utf-8",
            )
            self._set_environ(
                {
                    names.STORAGE_CONNECTION: self.azurite.connection_string,
                    names.SETTING_ARM_ENDPOINT: self.arm.base_url,
                    names.SETTING_ARM_TOKEN: self.arm.token,
                    names.SETTING_CONFIG: str(config),
                    names.SETTING_ALERTS_KEY: FUNCTION_KEY,
                    names.SETTING_SCHEDULED_EVENTS_KEY: SCHEDULED_EVENTS_KEY,
                    names.SETTING_BOARD_READ_KEY: BOARD_READ_KEY,
                    # One notice at a time: the demo and end-to-end tests see each at once.
                    names.SETTING_GROUP_WAIT_SECONDS: "0",
                    **self.sinks.environ,
                }
            )
            stack.callback(self._restore_environ)
            # Each function builds its clients once per process from the settings; a new stack
            # has new settings, so those caches start empty and are emptied again after.
            reset_function_caches()
            stack.callback(reset_function_caches)
            import function_app

            if self._quiet:
                # The app logs every stage at INFO as JSON; a demo or benchmark shows results.
                logging.getLogger().setLevel(logging.WARNING)

            self.host = DevHost(
                function_app.app,
                environ=os.environ,
                port=free_port(),
                queue_options=self._queue_options,
                run_timers=False,
            )
            stack.enter_context(self.host)
            self._stack = stack.pop_all()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _set_environ(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_environ.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _restore_environ(self) -> None:
        for key, value in self._saved_environ.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    # ---- use -------------------------------------------------------------------------
    @property
    def alerts_url(self) -> str:
        assert self.host is not None
        return f"{self.host.base_url}/api/alerts?code={FUNCTION_KEY}"

    @property
    def base_url(self) -> str:
        """Where a Scheduled Events forwarder posts (``/api/scheduled-events`` below it)."""
        assert self.host is not None
        return self.host.base_url

    def post_alert(self, payload: dict[str, Any]) -> requests.Response:
        return requests.post(
            self.alerts_url,
            data=json.dumps(payload).encode("utf-8"),
            headers={"Content-Type": "application/json"},
            timeout=10,
        )

    def deliveries(self) -> dict[ChannelName, int]:
        """Messages each receiver got (one per message, not per recipient)."""
        return {
            "email": len(self.sinks.smtp.mails),
            # Twilio takes one message per recipient; a receiver's SMS goes to each target.
            "sms": len(self.sinks.twilio.messages) // max(1, len(self.sinks.targets["sms"])),
            "slack": self.sinks.count("slack"),
            "teams": len(self.sinks.teams.cards),
            "webhook": len(self.sinks.webhook.deliveries),
        }

    def wait_until(self, condition: Callable[[], bool], timeout_seconds: float) -> bool:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.02)
        return condition()

    def wait_for_deliveries(self, per_channel: int, timeout_seconds: float) -> bool:
        return self.wait_until(
            lambda: all(self.deliveries()[channel] >= per_channel for channel in self.channels),
            timeout_seconds,
        )
