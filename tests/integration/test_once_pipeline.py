"""Once, across the whole local product: Azurite, stand-in ARM, Log Analytics and receivers,
and the dev host running the real ``function_app``.

GIVEN a maintenance notice
WHEN  the Action Group posts it five times (its retries, a second rule)
THEN  each receiver gets one message and one delivery job is made per receiver (not five)

GIVEN storage really stopped (Azurite killed)
WHEN  the Action Group's attempts are all answered 503, storage comes back, and the next
      catch-up pass runs (the real timer function)
THEN  the notice is delivered once to every receiver, and a late copy from the webhook is
      dropped as a duplicate
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from functions import catchup
from shared import names
from shared.delivery.records import table_key
from shared.parsing.normalise import parse_alert
from shared.standins.activity_rows import service_health_row
from shared.standins.local_stack import CHANNEL_ORDER, LocalStack, demo_fleet, sample_alert
from shared.standins.loganalytics_server import LogAnalyticsStandIn
from shared.storage import StorageServices
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration


def new_notice() -> dict[str, Any]:
    return sample_alert(communication_id=uuid.uuid4().hex)


def settled(stack: LocalStack) -> dict[str, int]:
    assert stack.host is not None
    assert stack.host.wait_until_idle(60, settle_seconds=1.0)
    return dict(stack.deliveries())


def outcomes(stack: LocalStack, event_id: str) -> Counter[str]:
    assert stack.azurite is not None
    log = StorageServices.from_settings(
        {names.STORAGE_CONNECTION: stack.azurite.connection_string}
    ).table(names.TABLE_DELIVERY_LOG)
    return Counter(str(row["outcome"]) for row in log.query(table_key(event_id)))


def test_five_identical_posts_make_one_message_per_receiver(
    azurite: Azurite, tmp_path: Path
) -> None:
    alert = new_notice()
    with LocalStack(demo_fleet(), workdir=tmp_path, azurite=azurite, quiet=True) as stack:
        answers = [stack.post_alert(alert) for _ in range(5)]
        assert stack.wait_for_deliveries(1, 90)
        once = settled(stack)
        event_id = answers[0].json()["event_id"]
        assert [a.status_code for a in answers] == [202] * 5
        assert once == dict.fromkeys(CHANNEL_ORDER, 1)
        # one job per receiver went through delivery: no "duplicate" verdicts behind the scenes
        assert outcomes(stack, event_id) == Counter({"delivered": len(CHANNEL_ORDER)})


@pytest.fixture
def workspace(monkeypatch: pytest.MonkeyPatch) -> Iterator[LogAnalyticsStandIn]:
    with LogAnalyticsStandIn() as stand_in:
        monkeypatch.setenv(names.SETTING_LOG_ANALYTICS_WORKSPACE_ID, stand_in.workspace_id)
        monkeypatch.setenv(names.SETTING_LOG_ANALYTICS_ENDPOINT, stand_in.base_url)
        catchup._catch_up.cache_clear()
        yield stand_in
        catchup._catch_up.cache_clear()


def test_an_alert_refused_while_storage_was_down_is_delivered_by_the_next_catch_up(
    workspace: LogAnalyticsStandIn, tmp_path: Path
) -> None:
    alert = new_notice()
    with (
        Azurite.start(location=tmp_path / "data") as storage,
        LocalStack(demo_fleet(), workdir=tmp_path, azurite=storage, quiet=True) as stack,
    ):
        # GIVEN storage really down while the Action Group tries (its attempts, in short)
        storage.kill()
        refused = [stack.post_alert(alert).status_code for _ in range(3)]
        assert refused == [503, 503, 503]
        storage.restart()
        # AND the notice in the workspace's Activity Log, as Azure writes it there
        workspace.add_activity(
            service_health_row(alert, time_generated=datetime.now(UTC) - timedelta(minutes=5))
        )
        # WHEN the catch-up timer runs (its real function)
        catchup.catch_up(None)  # type: ignore[arg-type]
        # THEN every receiver gets it once; a late webhook copy is dropped
        assert stack.wait_for_deliveries(1, 90)
        assert stack.post_alert(alert).status_code == 202
        assert settled(stack) == dict.fromkeys(CHANNEL_ORDER, 1)
        document = stack.sinks.webhook.deliveries[0].document
        assert document["event_id"] == parse_alert(alert, datetime.now(UTC)).event_id
