"""Slack buttons through `forewarn serve` on Azurite: ``POST /api/slack/interactivity``.

GIVEN a wave of two VMs (app-1, app-2) announced to ops-email and to the bot-token Slack
receiver ops-slack, whose message (rendered and sent by forewarn's own renderer and sender to the
stand-in Slack) carries "Claim app-1", "Claim app-2", "Claim the wave" and "Snooze 24 h",
WHEN the stand-in Slack sends a button press as below, THEN the answer, the claims table and
the message in Slack change only for a good, fresh, first request of a known action.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from shared import names
from shared.channels.slack import SlackSender
from shared.cli import main
from shared.models import DeliveryJob, EnrichedEvent
from shared.render.slack import render
from shared.routing.config import load_config
from shared.standins import slack_server
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, window_from
from shared.standins.arm_server import ArmStandIn
from shared.standins.served import served as serve_process
from shared.standins.slack_server import (
    SIGNING_SECRET,
    Person,
    SlackMessage,
    SlackStandIn,
    button_of,
    press,
    press_body,
    signed_headers,
)
from shared.storage import StorageServices
from shared.wave.claims import ClaimNotFoundError, ClaimStore
from tests.support.azurite import Azurite
from tests.support.truth_oracle import slack_update_untrue
from tests.support.wave_setup import enrich_notice

pytestmark = pytest.mark.integration

WAVE_START = datetime(2030, 3, 1, 9, tzinfo=UTC)
DUE_24H = "2030-03-30T09:30:00Z"  # the 24 h reminders of the self-service deadline are due
TOKEN_SETTING = "FOREWARN_TEST_SLACK_TOKEN"
ROUTING = """\
version: 1
receivers:
  - name: ops-email
    type: email
    targets: [ops@example.com]
    options: {{from: forewarn@example.com, smtp_host: smtp.example.com}}
  - name: ops-slack
    type: slack
    timezone: Europe/Amsterdam
    targets: [{channel}]
    options: {{token_setting: {token}, api_base: "{api}", timeout: "5"}}
route:
  receivers: [ops-email, ops-slack]
"""


@dataclass
class World:
    base: str  # forewarn serve
    slack: SlackStandIn
    storage: StorageServices
    subscription: str
    config: Path
    enriched: EnrichedEvent

    @property
    def claims(self) -> ClaimStore:
        return ClaimStore(self.storage.table(names.TABLE_CLAIMS))

    def vm_id(self, name: str) -> str:
        return next(vm.id for vm in self.enriched.vms if vm.name == name)

    def owners(self, name: str) -> dict[str, str]:
        return self.claims.ownership().owners_of(self.vm_id(name), self.enriched.event.tracking_id)

    def post_message(self) -> SlackMessage:
        """The wave's message to ops-slack, as forewarn renders and sends it."""
        receiver = load_config(str(self.config)).receivers["ops-slack"]
        message = render(self.enriched, receiver, self.enriched.vms, WAVE_START)
        job = DeliveryJob("job", "event", receiver, message, WAVE_START.isoformat())
        assert SlackSender().send(job).delivered
        return next(m for m in reversed(self.slack.messages) if m.thread_ts is None)


@pytest.fixture(scope="module")
def world(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    subscription = str(uuid.uuid4())
    fleet = Fleet().add(
        *(
            FleetVm(subscription, "rg-app", name, maintenance=window_from(WAVE_START))
            for name in ("app-1", "app-2")
        )
    )
    config = tmp_path_factory.mktemp("slack-buttons") / "routing.yaml"
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
            names.SETTING_SLACK_SIGNING_SECRET: SIGNING_SECRET,
            TOKEN_SETTING: slack_server.BOT_TOKEN,
        }
        for key, value in environ.items():
            patch.setenv(key, value)
        storage = StorageServices.from_settings(environ)
        event = maintenance_event([subscription], tracking_id=f"WAVE-{subscription[:8]}")
        enriched = enrich_notice(storage, environ, event)
        functions = (names.FUNCTION_SLACK_INTERACTIVITY, names.FUNCTION_HEALTH)
        with serve_process(azurite.connection_string, "unused-alerts-key", functions) as base:
            yield World(base, slack, storage, subscription, config, enriched)


@pytest.fixture
def message(world: World) -> Iterator[SlackMessage]:
    posted = world.post_message()
    yield posted
    for name in ("app-1", "app-2"):
        with contextlib.suppress(ClaimNotFoundError):
            world.claims.unclaim_vm(world.vm_id(name))
    with contextlib.suppress(ClaimNotFoundError):
        world.claims.unclaim_wave(world.enriched.event.tracking_id, None)


def _updates(world: World, message: SlackMessage, judge: bool = True) -> list[SlackMessage]:
    """The message's updates; the latest read against the claims in force by the truth oracle
    (``judge``: unless the claims were changed since, outside Slack)."""
    updates = [u for u in world.slack.updates if u.ts == message.ts]
    names = {vm.name: vm.id for vm in world.enriched.vms}
    if updates and judge:
        found = slack_update_untrue(
            updates[-1].blocks, names, world.claims.ownership(), "Europe/Amsterdam"
        )
        assert not found, found
    return updates


def _texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def _post(world: World, body: bytes, headers: dict[str, str]) -> requests.Response:
    return requests.post(f"{world.base}{slack_server.INTERACTIVITY_PATH}", data=body,
                         headers=headers, timeout=10)  # fmt: skip


def test_the_message_carries_claim_and_snooze_buttons(message: SlackMessage) -> None:
    labels = [
        element["text"]["text"]
        for block in message.blocks
        if block.get("type") == "actions"
        for element in block["elements"]
    ]
    assert [b for b in labels if b != "Open in Azure portal"] == [
        "Claim app-1",
        "Claim app-2",
        "Claim the wave",
        "Snooze 24 h",
    ]


def test_a_press_claims_the_vm_and_updates_the_message_in_place(
    world: World, message: SlackMessage
) -> None:
    # WHEN Alice presses "Claim app-2"
    started = time.monotonic()
    answer = press(world.base, message, "Claim app-2", Person(name="Alice <b>"))
    # THEN it is answered well inside Slack's 3 s, the VM is hers for ops-slack
    assert time.monotonic() - started < 3
    assert (answer.status_code, answer.json()["ok"], answer.json()["updated"]) == (200, True, True)
    assert world.owners("app-2") == {"ops-slack": "Alice <b>"}
    assert world.owners("app-1") == {}
    # AND the message says so (her name escaped), and its app-2 button is gone
    (update,) = _updates(world, message)
    shown = _texts(update.blocks)
    assert "app-2: claimed by Alice &lt;b&gt;" in shown
    assert "Claim app-2" not in shown
    assert "Claim app-1" in shown and "Claim the wave" in shown


def _forged(message: SlackMessage) -> tuple[bytes, dict[str, str]]:
    body = press_body(message, button_of(message, "Claim app-1"), Person())
    return body, signed_headers(body, secret="not-the-signing-secret-0123456789")


def _stale(message: SlackMessage) -> tuple[bytes, dict[str, str]]:
    at = time.time() - 6 * 60
    body = press_body(message, button_of(message, "Claim app-1"), Person(), at=at)
    return body, signed_headers(body, at=at)


def _unsigned(message: SlackMessage) -> tuple[bytes, dict[str, str]]:
    body = press_body(message, button_of(message, "Claim app-1"), Person())
    return body, {"Content-Type": "application/x-www-form-urlencoded"}


def _body_changed(message: SlackMessage) -> tuple[bytes, dict[str, str]]:
    """A good request whose body was changed after signing (another VM)."""
    body = press_body(message, button_of(message, "Claim app-2"), Person())
    headers = signed_headers(body)
    return body.replace(b"app-2", b"app-1"), headers


REFUSED = [
    # GIVEN a request that is                 THEN status  error
    ("forged (another secret)", _forged, 403, "bad_signature"),
    ("signed, body changed after", _body_changed, 403, "bad_signature"),
    ("six minutes old", _stale, 403, "stale"),
    ("unsigned", _unsigned, 401, "unsigned"),
]


@pytest.mark.parametrize(
    ("make", "status", "error"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED]
)
def test_a_request_slack_did_not_sign_now_changes_nothing(
    world: World, message: SlackMessage, make: Any, status: int, error: str
) -> None:
    body, headers = make(message)
    answer = _post(world, body, headers)
    assert (answer.status_code, answer.json()["error"]) == (status, error)
    assert world.owners("app-1") == {} and world.owners("app-2") == {}
    assert _updates(world, message) == []


def test_a_replayed_request_changes_nothing(world: World, message: SlackMessage) -> None:
    body = press_body(message, button_of(message, "Claim app-1"), Person(name="Alice"))
    headers = signed_headers(body)
    assert _post(world, body, headers).json()["ok"] is True
    assert world.owners("app-1") == {"ops-slack": "Alice"}
    assert len(_updates(world, message)) == 1
    # WHEN the claim is ended and the very same request comes again (within its 5 minutes)
    world.claims.unclaim_vm(world.vm_id("app-1"))
    again = _post(world, body, headers)
    # THEN it is acknowledged, and nothing is claimed or updated again
    assert (again.status_code, again.json()) == (200, {"ok": True, "replayed": True})
    assert world.owners("app-1") == {}
    # (the message still says what the press did: `forewarn unclaim` does not edit it)
    assert len(_updates(world, message, judge=False)) == 1


def test_an_unknown_action_changes_nothing(world: World, message: SlackMessage) -> None:
    button = {**button_of(message, "Claim app-1"), "action_id": "reboot:0"}
    body = press_body(message, button, Person())
    answer = _post(world, body, signed_headers(body))
    assert (answer.status_code, answer.json()["error"]) == (200, "unknown_action")
    assert world.owners("app-1") == {}
    assert _updates(world, message) == []


def test_snooze_holds_the_vms_and_says_until_when(world: World, message: SlackMessage) -> None:
    before = datetime.now(UTC)
    answer = press(world.base, message, "Snooze 24 h", Person(name="Bob"))
    assert answer.json()["ok"] is True
    snoozes = world.claims.ownership().snoozes
    for name in ("app-1", "app-2"):
        held = snoozes[world.vm_id(name).lower()]
        assert 23.9 * 3600 < (held - before).total_seconds() < 24.1 * 3600
    (update,) = _updates(world, message)
    assert "app-1, app-2: reminders snoozed until " in _texts(update.blocks)
    world.claims.snooze(world.vm_id("app-1"), before)  # over: the other tests see no snooze
    world.claims.snooze(world.vm_id("app-2"), before)


def _reminded(world: World, capsys: pytest.CaptureFixture[str]) -> dict[str, list[str]]:
    argv = ["remind", "--json", "--dry-run", "--subscription", world.subscription]
    assert main([*argv, "--now", DUE_24H]) == 0
    notices = json.loads(capsys.readouterr().out)
    return {
        n["vm_id"].rsplit("/", 1)[1]: n["receivers"]
        for n in notices
        if n["kind"].startswith("self_service-")
    }


def test_after_a_claim_from_slack_the_reminder_goes_to_the_owners_receiver_only(
    world: World, message: SlackMessage, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _reminded(world, capsys) == {
        "app-1": ["ops-email", "ops-slack"],
        "app-2": ["ops-email", "ops-slack"],
    }
    assert press(world.base, message, "Claim app-2", Person(name="Alice")).json()["ok"] is True
    assert _reminded(world, capsys) == {
        "app-1": ["ops-email", "ops-slack"],
        "app-2": ["ops-slack"],
    }


def test_claim_the_wave_claims_every_vm_for_the_receiver(
    world: World, message: SlackMessage
) -> None:
    answer = press(world.base, message, "Claim the wave", Person(name="Carol"))
    assert answer.json()["ok"] is True
    assert world.owners("app-1") == world.owners("app-2") == {"ops-slack": "Carol"}
    (update,) = _updates(world, message)
    shown = _texts(update.blocks)
    assert f"Wave {world.enriched.event.tracking_id}: claimed by Carol for ops-slack" in shown
    assert "Claim app-1" not in shown and "Claim the wave" not in shown
    assert "Snooze 24 h" in shown
