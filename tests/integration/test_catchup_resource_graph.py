"""Catch-up without a workspace: Resource Graph's ``servicehealthresources`` instead, against
the stand-in ARM (its Resource Graph) and Azurite, through ``CatchUp.from_settings``.

    GIVEN in servicehealthresources                  THEN the catch-up
    planned maintenance, sub-new, never received      queues it once, recovered; the next
                                                      pass calls it recovered, queues nothing
    planned maintenance, sub-known, whose wave        calls it received (its notice came: the
      forewarn follows (records with its tracking id)   records say so), queues nothing
    a service issue in sub-new                        leaves it to the webhook (not read)
    planned maintenance in sub-denied (403)           reads the others; partial: checkpoint kept
    no allow-list, more subscriptions than the        reads at tenant scope; partial: it says
      tenant scope covers                               to list the watched ones
    Resource Graph down                               a note, nothing queued, nothing lost
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from shared import names
from shared.loganalytics.catchup import CatchUp
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, window_from
from shared.standins.arm_server import ArmStandIn
from shared.standins.resourcegraph_server import service_health_event
from shared.storage import StorageServices
from tests.support.azurite import Azurite
from tests.support.wave_setup import enrich_notice, take_messages

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class World:
    arm: ArmStandIn
    environ: dict[str, str]
    storage: StorageServices
    new: str  # subscriptions, unique to this test
    known: str
    denied: str
    tracking: str


@pytest.fixture
def world(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    new, known, denied = (str(uuid.uuid4()) for _ in range(3))
    tracking = f"TRK-{uuid.uuid4().hex[:6].upper()}"
    fleet = Fleet().add(
        FleetVm(known, "rg-app", "app-1", maintenance=window_from(NOW - timedelta(days=1)))
    )
    arm = ArmStandIn(fleet)
    with arm:
        environ = {
            names.STORAGE_CONNECTION: azurite.connection_string,
            names.SETTING_ARM_ENDPOINT: arm.base_url,
            names.SETTING_ARM_TOKEN: arm.token,
            names.SETTING_ALLOWED_SUBSCRIPTIONS: f"{new},{known},{denied}",
        }
        monkeypatch.delenv(names.SETTING_LOG_ANALYTICS_WORKSPACE_ID, raising=False)
        storage = StorageServices.from_settings(environ)
        yield World(arm, environ, storage, new, known, denied, tracking)


def queued(world: World) -> list[dict[str, object]]:
    """The recovered events this test's subscriptions put on the events queue (taken off it)."""
    mine = (world.new, world.known, world.denied)
    texts = take_messages(
        world.environ[names.STORAGE_CONNECTION],
        names.QUEUE_EVENTS,
        lambda text: any(subscription in text for subscription in mine),
    )
    return [json.loads(text)["body"] for text in texts]


def test_catch_up_from_service_health_resources(world: World) -> None:
    # GIVEN the wave's notice reached forewarn for sub-known (its records exist) ...
    enrich_notice(
        world.storage,
        world.environ,
        maintenance_event([world.known], tracking_id=world.tracking),
    )
    moment = NOW - timedelta(minutes=20)
    # ... and Resource Graph holds the wave's event in both subscriptions, and more
    world.arm.graph.events += [
        service_health_event(world.new, world.tracking, last_update=moment),
        service_health_event(world.known, world.tracking, last_update=moment),
        service_health_event(
            world.new, "SI-1", last_update=moment, event_type="ServiceIssue", title="Outage"
        ),
    ]
    runner = CatchUp.from_settings(world.environ)
    assert runner is not None

    report = runner.run(since=NOW - timedelta(hours=1))

    verdicts = sorted((f.verdict, f.subscription_ids[0] == world.new) for f in report.findings)
    assert verdicts == [("missing", True), ("received", False)]
    assert report.notes == []
    bodies = queued(world)
    assert len(bodies) == 1
    assert bodies[0]["tracking_id"] == world.tracking and bodies[0]["recovered"] is True
    assert bodies[0]["subscription_ids"] == [world.new]
    assert bodies[0]["incident_type"] == "Maintenance"

    # WHEN the next pass reads the same hour THEN the same id, already recovered
    again = runner.run(since=NOW - timedelta(hours=1))
    assert [f.verdict for f in again.findings if f.subscription_ids == [world.new]] == ["recovered"]
    assert [f.event_id for f in again.findings if f.verdict == "recovered"] == [
        f.event_id for f in report.findings if f.verdict == "missing"
    ]
    assert queued(world) == []


def test_a_forbidden_subscription_makes_the_pass_partial(world: World) -> None:
    world.arm.fleet.forbidden.add(world.denied)
    moment = NOW - timedelta(minutes=5)
    world.arm.graph.events += [
        service_health_event(world.new, world.tracking, last_update=moment),
        service_health_event(world.denied, world.tracking, last_update=moment),
    ]
    runner = CatchUp.from_settings(world.environ)
    assert runner is not None

    report = runner.run(since=NOW - timedelta(hours=1), dry_run=True)

    assert [f.subscription_ids for f in report.findings] == [[world.new]]
    assert report.notes == [
        "Log Analytics answered in part (Resource Graph refused 1 subscription(s) (403)); "
        "the checkpoint stays so that the next pass reads this window again"
    ]


def test_resource_graph_down_is_a_note(world: World) -> None:
    world.arm.graph.unavailable = True
    runner = CatchUp.from_settings(world.environ)
    assert runner is not None

    report = runner.run(since=NOW - timedelta(hours=1))

    assert report.read is False and report.findings == []
    assert report.notes[0].startswith("query failed, the next pass retries: Resource Graph")
    assert queued(world) == []


def test_tenant_scope_past_its_limit_says_to_list_the_subscriptions(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    world.environ[names.SETTING_ALLOWED_SUBSCRIPTIONS] = ""
    world.arm.graph.tenant_limit = 1
    moment = NOW - timedelta(minutes=5)
    world.arm.graph.events += [
        service_health_event(world.new, world.tracking, last_update=moment),
        service_health_event(world.known, world.tracking, last_update=moment),
    ]
    runner = CatchUp.from_settings(world.environ)
    assert runner is not None

    report = runner.run(since=NOW - timedelta(hours=1), dry_run=True)

    assert len(report.findings) == 1  # the first subscription only
    assert "list the watched ones in FOREWARN_ALLOWED_SUBSCRIPTIONS" in report.notes[0]
