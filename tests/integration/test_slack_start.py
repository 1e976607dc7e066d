"""Start from the message in Slack, through `forewarn serve` on Azurite and the ARM stand-in.

GIVEN a wave of two standalone VMs (app-1, app-2; each a plan step of its own) announced to
the bot-token Slack receiver ops-slack with Start from the message on, whose allow-list names
Slack user U0FOREWARN1 only
WHEN  a person presses "Start step N now" as below
THEN  Slack gets its answer within 3 s, the message is updated in place with what happened,
      the audit has the row, and performMaintenance reached ARM only for the person on the list.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from shared import names
from shared.channels.slack import SlackSender
from shared.routing.config import load_config
from shared.routing.stage import route_receivers
from shared.standins import slack_server
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, window_from
from shared.standins.arm_server import ArmStandIn
from shared.standins.served import served as serve_process
from shared.standins.slack_server import Person, SlackMessage, SlackStandIn, press
from shared.start.audit import AuditTrail
from shared.storage import StorageServices
from shared.wave.actions import StartLinks
from tests.support.azurite import Azurite
from tests.support.wave_setup import enrich_notice

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
TOKEN_SETTING = "FOREWARN_TEST_SLACK_TOKEN"
KEY = "slack-start-action-link-key"
ALICE = Person(id="U0FOREWARN1", username="alice", name="Alice")
BOB = Person(id="U0BOB", username="bob", name="Bob")
ROUTING = """\
version: 1
receivers:
  - name: ops-slack
    type: slack
    targets: [{channel}]
    options: {{token_setting: {token}, api_base: "{api}", timeout: "5"}}
    start_from_message: {{allow: [U0FOREWARN1]}}
route:
  receivers: [ops-slack]
"""


@dataclass
class World:
    base: str
    slack: SlackStandIn
    arm: ArmStandIn
    audit: AuditTrail
    wave: str
    message: SlackMessage

    def posts(self) -> int:
        return sum(1 for r in self.arm.requests if r.path.endswith("/performMaintenance"))


@pytest.fixture(scope="module")
def world(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    subscription = str(uuid.uuid4())
    window = window_from(NOW - timedelta(days=1))
    fleet = Fleet().add(
        *(
            FleetVm(subscription, "rg-app", name, maintenance=dict(window))
            for name in ("app-1", "app-2")
        )
    )
    config = tmp_path_factory.mktemp("slack-start") / "routing.yaml"
    with SlackStandIn() as slack, ArmStandIn(fleet) as arm, pytest.MonkeyPatch.context() as patch:
        config.write_text(
            ROUTING.format(
                channel=slack_server.CHANNELS[0], token=TOKEN_SETTING, api=slack.api_base
            )
        )
        environ = {
            names.STORAGE_CONNECTION: azurite.connection_string,
            names.SETTING_ARM_ENDPOINT: arm.base_url,
            names.SETTING_ARM_TOKEN: arm.token,
            names.SETTING_CONFIG: str(config),
            names.SETTING_SLACK_SIGNING_SECRET: slack_server.SIGNING_SECRET,
            names.SETTING_ENABLE_START_FROM_MESSAGE: "true",
            names.SETTING_PUBLIC_URL: "http://127.0.0.1:7071",
            names.SETTING_ACTION_LINK_KEY: KEY,
            TOKEN_SETTING: slack_server.BOT_TOKEN,
        }
        for key, value in environ.items():
            patch.setenv(key, value)
        storage = StorageServices.from_settings(environ)
        wave = f"WAVE-{subscription[:8]}"
        enriched = enrich_notice(
            storage, environ, maintenance_event([subscription], tracking_id=wave)
        )
        links = StartLinks.from_settings(environ)
        (job,) = route_receivers(enriched, load_config(str(config)), NOW, start_links=links).jobs
        assert SlackSender().send(job).delivered
        message = next(m for m in reversed(slack.messages) if m.thread_ts is None)
        functions = (names.FUNCTION_SLACK_INTERACTIVITY, names.FUNCTION_HEALTH)
        with serve_process(azurite.connection_string, "unused-alerts-key", functions) as base:
            yield World(
                base, slack, arm, AuditTrail(storage.table(names.TABLE_ACTION_AUDIT)), wave, message
            )


def _labels(message: SlackMessage) -> list[str]:
    return [
        element["text"]["text"]
        for block in message.blocks
        if block.get("block_id") == "forewarn-start"
        for element in block["elements"]
    ]


def _last_update(world: World) -> str:
    updates = [u for u in world.slack.updates if u.ts == world.message.ts]
    return json.dumps(updates[-1].blocks, ensure_ascii=False)


def test_each_plan_step_has_its_start_button(world: World) -> None:
    assert _labels(world.message) == ["Start step 1 now", "Start step 2 now"]


def test_a_person_not_on_the_list_is_refused_and_nothing_reaches_arm(world: World) -> None:
    before = world.posts()
    answer = press(world.base, world.message, "Start step 2 now", BOB)
    assert answer.status_code == 200
    assert world.posts() == before
    shown = _last_update(world)
    assert "pressed by <@U0BOB>: not started: U0BOB is not on the list" in shown
    rows = [row for row in world.audit.rows_of(world.wave) if row.who == "U0BOB"]
    assert [(row.kind, row.result, row.via) for row in rows] == [
        ("refused", "not_on_list", "slack")
    ]


def test_a_person_on_the_list_starts_the_step_within_slacks_3_seconds(world: World) -> None:
    started = time.monotonic()
    answer = press(world.base, world.message, "Start step 1 now", ALICE)
    assert time.monotonic() - started < 3
    assert (answer.status_code, answer.json()["ok"]) == (200, True)
    assert world.posts() == 1
    shown = _last_update(world)
    assert "step 1 (app-1), pressed by <@U0FOREWARN1>: Maintenance of step 1 is under way" in shown
    rows = [row for row in world.audit.rows_of(world.wave) if row.who == "U0FOREWARN1"]
    assert [(row.kind, row.result) for row in rows] == [
        ("confirmed", "ok"),
        ("outcome", "still_running"),
    ]
