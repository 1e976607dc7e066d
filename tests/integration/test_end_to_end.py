"""The whole product on 127.0.0.1: POST /api/alerts -> enrich (stand-in ARM) -> route ->
deliver to real SMTP and stand-in Twilio, Slack, Teams and webhook servers, on Azurite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.standins.local_stack import CHANNEL_ORDER, LocalStack, demo_fleet, sample_alert
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration


@pytest.fixture
def stack(azurite: Azurite, tmp_path: Path) -> Iterator[LocalStack]:
    with LocalStack(demo_fleet(), workdir=tmp_path, azurite=azurite) as running:
        yield running


def settled(stack: LocalStack) -> dict[str, int]:
    assert stack.host is not None
    assert stack.host.wait_until_idle(60, settle_seconds=1.0)
    return dict(stack.deliveries())


def test_duplicate_alerts_give_one_message_per_receiver(stack: LocalStack) -> None:
    # GIVEN the Action Group delivers the same alert three times (its retries)
    alert = sample_alert(communication_id=uuid.uuid4().hex)
    answers = [stack.post_alert(alert) for _ in range(3)]
    # THEN each POST is accepted with the same event id
    assert {answer.status_code for answer in answers} == {202}
    assert len({answer.json()["event_id"] for answer in answers}) == 1
    # AND every receiver gets exactly one message
    assert stack.wait_for_deliveries(1, 90)
    assert settled(stack) == dict.fromkeys(CHANNEL_ORDER, 1)


def test_the_message_names_the_vms_the_stand_in_arm_reported(stack: LocalStack) -> None:
    assert stack.post_alert(sample_alert(communication_id=uuid.uuid4().hex)).status_code == 202
    assert stack.wait_for_deliveries(1, 90)
    document = stack.sinks.webhook.deliveries[0].document
    names = sorted(vm["name"] for vm in document["vms"])
    # cache-01 has nothing planned and is left out; every VM with a window is there.
    assert names == ["build-agent", "sql-01", "sql-02", "web-01", "web-02"]
    assert stack.sinks.webhook.deliveries[0].verified
    advice = {vm["name"]: vm["advice"]["action"] for vm in document["vms"]}
    assert advice["web-01"] == "let_azure"
    assert advice["build-agent"] == "avoid_self_service"
    assert advice["sql-01"] == "self_service"
    slack = stack.sinks.slack.messages[0]
    # The tag value "<!channel> dba@example.com" must not become a mention.
    assert "<!channel>" not in slack.text
    assert all("<!channel>" not in str(block) for block in slack.blocks)


def test_a_service_health_notice_without_vms_still_reaches_everyone(stack: LocalStack) -> None:
    answer = stack.post_alert(sample_alert(about_vms=False, communication_id=uuid.uuid4().hex))
    assert answer.status_code == 202
    assert stack.wait_for_deliveries(1, 90)
    assert "Azure Synapse Analytics" in stack.sinks.slack.messages[0].text
    assert settled(stack) == dict.fromkeys(CHANNEL_ORDER, 1)
