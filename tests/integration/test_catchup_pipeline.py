"""The catch-up on the whole local product: Azurite, stand-in ARM and receivers, the dev host
running the real ``function_app``, and the stand-in Log Analytics workspace.

GIVEN a maintenance notice in the workspace's AzureActivity table
WHEN  the webhook never brought it / brought it already / the workspace fails
THEN  the catch-up delivers a missed notice once to every receiver, marked recovered; never
      sends a received one again; and a failed query stops nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions import catchup
from shared import names
from shared.parsing.normalise import parse_alert
from shared.standins.activity_rows import service_health_row
from shared.standins.local_stack import CHANNEL_ORDER, LocalStack, demo_fleet, sample_alert
from shared.standins.loganalytics_server import LogAnalyticsStandIn
from shared.standins.stand_in import Failure
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workspace() -> Iterator[LogAnalyticsStandIn]:
    with LogAnalyticsStandIn() as stand_in:
        yield stand_in  # type: ignore[misc]


@pytest.fixture
def stack(
    azurite: Azurite,
    tmp_path: Path,
    workspace: LogAnalyticsStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[LocalStack]:
    monkeypatch.setenv(names.SETTING_LOG_ANALYTICS_WORKSPACE_ID, workspace.workspace_id)
    monkeypatch.setenv(names.SETTING_LOG_ANALYTICS_ENDPOINT, workspace.base_url)
    catchup._catch_up.cache_clear()
    try:
        with LocalStack(demo_fleet(), workdir=tmp_path, azurite=azurite, quiet=True) as running:
            yield running
    finally:
        catchup._catch_up.cache_clear()


def new_notice() -> dict[str, Any]:
    return sample_alert(communication_id=uuid.uuid4().hex)


def in_workspace(workspace: LogAnalyticsStandIn, alert: dict[str, Any]) -> str:
    """Put the alert's activity-log event in the workspace; return the webhook's event id."""
    moment = datetime.now(UTC) - timedelta(minutes=10)
    workspace.add_activity(service_health_row(alert, time_generated=moment))
    return parse_alert(alert, datetime.now(UTC)).event_id


def settled(stack: LocalStack) -> dict[str, int]:
    assert stack.host is not None
    assert stack.host.wait_until_idle(60, settle_seconds=1.0)
    return dict(stack.deliveries())


def catch_up_cli(*args: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "catch-up", "--json", *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def test_a_missed_notice_is_delivered_once_by_the_catch_up(
    stack: LocalStack, workspace: LogAnalyticsStandIn
) -> None:
    # GIVEN a notice the webhook never brought, in the workspace
    event_id = in_workspace(workspace, new_notice())

    # WHEN the hourly timer runs (its real function), and later again over the same hours
    catchup.catch_up(None)  # type: ignore[arg-type]
    assert stack.wait_for_deliveries(1, 90)
    once = settled(stack)
    code, again = catch_up_cli("--since", (datetime.now(UTC) - timedelta(hours=2)).isoformat())

    # THEN every receiver got it exactly once (Slack: the message and its thread reply),
    # with the webhook's event id, and the second pass sent nothing
    assert once["webhook"] == 1 and all(once[channel] >= 1 for channel in CHANNEL_ORDER)
    assert settled(stack) == once
    document = stack.sinks.webhook.deliveries[0].document
    assert document["event_id"] == event_id
    assert code == 0
    assert [(e["event_id"], e["verdict"]) for e in again["events"]] == [(event_id, "recovered")]
    assert again["queued"] == 0


def test_a_notice_the_webhook_brought_is_not_sent_again(
    stack: LocalStack, workspace: LogAnalyticsStandIn
) -> None:
    alert = new_notice()
    assert stack.post_alert(alert).status_code == 202
    assert stack.wait_for_deliveries(1, 90)
    once = settled(stack)
    event_id = in_workspace(workspace, alert)

    code, report = catch_up_cli()

    assert code == 0
    assert [(e["event_id"], e["verdict"]) for e in report["events"]] == [(event_id, "received")]
    assert settled(stack) == once


def test_a_failed_query_stops_nothing_and_the_next_pass_catches_up(
    stack: LocalStack, workspace: LogAnalyticsStandIn
) -> None:
    missed = in_workspace(workspace, new_notice())
    workspace.script.always(Failure(status=503))

    # WHEN the workspace fails: the pass reports it and the pipeline goes on
    code, failed = catch_up_cli()
    assert code == 1 and failed["events"] == [] and not failed["checkpoint_advanced"]
    assert any("query failed" in note for note in failed["notes"])
    assert stack.post_alert(new_notice()).status_code == 202
    assert stack.wait_for_deliveries(1, 90)
    once = settled(stack)

    # THEN once it answers, the next pass (same checkpoint) finds the missed notice
    workspace.script.clear()
    code, recovered = catch_up_cli()
    assert code == 0
    assert [(e["event_id"], e["verdict"], e["queued"]) for e in recovered["events"]] == [
        (missed, "missing", True)
    ]
    assert stack.wait_for_deliveries(2, 90)
    assert settled(stack) == {channel: 2 * count for channel, count in once.items()}
