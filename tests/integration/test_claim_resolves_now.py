"""A claim resolves its VM's escalation at once, not at the next hourly reminders pass: the whole
local world (Azurite, the stand-in ARM, the hosted app's route and deliver functions, the
PagerDuty stand-in), the claim made with the command line as an operator would.

    GIVEN the demo fleet's wave, sql-01 and sql-02's self-service windows closing in 20 h; the
    reminders pass has paged for both (email-demo escalates to PagerDuty 24 h before)

    WHEN                                          THEN at the PagerDuty stand-in
    forewarn claim sql-02 --by Alice              sql-02's alert resolved, with no pass run;
                                                  sql-01's alert still open
    the reminders pass runs again                 nothing resolved or triggered a second time
    Alice claims sql-01 with the Slack button,    sql-01's alert resolved, with no pass run
    or with a signed claim link (confirmed)
    Bob claims the wave with the command line     both alerts resolved, each once, no pass run
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from shared import names
from shared.enrich.services import EnrichmentServices
from shared.render.pagerduty import dedup_key_for
from shared.routing.offsets import ReminderOffsets
from shared.standins.local_stack import LocalStack, demo_fleet, sample_alert
from shared.standins.slack_server import Person, press
from shared.timeutil import parse_utc, utc_now
from shared.wave.actions import claim_url
from shared.wave.runner import WaveRunner

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
OFFSETS = "self_service=72h,24h;scheduled=24h"
LINK_KEY = "action-link-key-for-tests-only"


@pytest.fixture
def stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    monkeypatch.setenv(names.SETTING_ACTION_LINK_KEY, LINK_KEY)
    # The demo fleet made 8 days 4 hours ago: sql-01 and sql-02's windows close in 20 h, within
    # the escalation's 24 h on the real clock the hosted app routes by. Its own Azurite: the
    # records and claims of the same VMs in another test's would change what is escalated.
    made = datetime.now(UTC) - timedelta(days=8, hours=4)
    with LocalStack(demo_fleet(made), workdir=tmp_path, quiet=True) as running:
        yield running


def runner() -> WaveRunner:
    return WaveRunner.from_settings(os.environ, services=EnrichmentServices.create(os.environ))


def claim(*argv: str) -> subprocess.CompletedProcess[str]:
    """``forewarn claim …`` in its own process, with the settings the local world exported."""
    return subprocess.run(
        [sys.executable, "-m", "shared.cli", "claim", *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ),
        timeout=120,
        check=False,
    )


def escalated(stack: LocalStack) -> tuple[dict[str, str], dict[str, str]]:
    """The first notice, then the reminders pass paging for sql-01 and sql-02: (VM ids by
    name, their PagerDuty dedup keys by name)."""
    assert stack.post_alert(sample_alert()).status_code == 202
    assert stack.wait_for_deliveries(1, 90)
    pagerduty = stack.sinks.pagerduty
    vm = {v.name: v.id for v in stack.fleet.vms.values()}
    first = runner()
    record = first.records.get(vm["sql-02"])
    assert record is not None and record.tracking_id and record.self_service_window.end
    keys = {name: dedup_key_for(record.tracking_id, vm[name]) for name in ("sql-01", "sql-02")}
    at = utc_now()
    assert parse_utc(record.self_service_window.end) - at < timedelta(hours=24)
    first.remind(at, ReminderOffsets.parse(OFFSETS))
    assert stack.wait_until(lambda: len(pagerduty.triggered()) == 2, 60), pagerduty.alerts
    assert all(pagerduty.open_alert(key) is not None for key in keys.values())
    return vm, keys


def test_a_claim_from_the_command_line_resolves_its_escalation_at_once(
    stack: LocalStack,
) -> None:
    assert stack.host is not None
    pagerduty = stack.sinks.pagerduty
    # GIVEN the pass, 20 h before the windows close, has paged for sql-01 and sql-02
    _, keys = escalated(stack)
    # WHEN Alice claims sql-02 with the command line (no pass runs after it)
    done = claim("sql-02", "--by", "Alice", "--receiver", "email-demo")
    assert done.returncode == 0, done.stderr
    assert "escalation resolved now: sql-02" in done.stdout
    # THEN sql-02's alert is resolved with its own key, sql-01's stays open
    assert stack.wait_until(lambda: pagerduty.open_alert(keys["sql-02"]) is None, 60)
    assert [event["dedup_key"] for event in pagerduty.resolved()] == [keys["sql-02"]]
    assert pagerduty.open_alert(keys["sql-01"]) is not None
    # WHEN the next reminders pass runs, THEN it resolves and triggers nothing again
    runner().remind(utc_now(), ReminderOffsets.parse(OFFSETS))
    assert stack.host.wait_until_idle(60, settle_seconds=1.0)
    assert [event["dedup_key"] for event in pagerduty.resolved()] == [keys["sql-02"]]
    assert len(pagerduty.triggered()) == 2


@pytest.mark.parametrize("way", ["slack button", "claim link"])
def test_a_claim_from_a_message_resolves_its_escalation_at_once(
    stack: LocalStack, way: str
) -> None:
    pagerduty = stack.sinks.pagerduty
    vm, keys = escalated(stack)
    # WHEN Alice claims sql-01 from a message (signed as Slack signs it, or a link confirmed)
    if way == "slack button":
        message = next(m for m in stack.sinks.slack.messages if m.thread_ts is None)
        pressed = press(stack.base_url, message, "Claim sql-01", Person(name="Alice"))
        assert pressed.status_code == 200 and pressed.json()["ok"], pressed.text
    else:
        url = claim_url(stack.base_url, vm["sql-01"], "email-demo", LINK_KEY, utc_now())
        confirmed = requests.post(url, data={"by": "Alice"}, timeout=30)
        assert confirmed.status_code == 200, confirmed.text
    # THEN sql-01's alert is resolved with no pass run; sql-02's stays open
    assert stack.wait_until(lambda: pagerduty.open_alert(keys["sql-01"]) is None, 60)
    assert [event["dedup_key"] for event in pagerduty.resolved()] == [keys["sql-01"]]
    assert pagerduty.open_alert(keys["sql-02"]) is not None


def test_a_wave_claim_from_the_command_line_resolves_every_escalation_of_the_wave(
    stack: LocalStack,
) -> None:
    pagerduty = stack.sinks.pagerduty
    vm, keys = escalated(stack)
    record = runner().records.get(vm["sql-01"])
    assert record is not None and record.tracking_id
    # WHEN Bob claims the whole wave for email-demo with the command line
    done = claim("--wave", record.tracking_id, "--by", "Bob", "--receiver", "email-demo")
    assert done.returncode == 0, done.stderr
    assert "escalation resolved now: sql-01, sql-02" in done.stdout
    # THEN both alerts are resolved, each once, with no pass run
    assert stack.wait_until(lambda: not any(a.status == "triggered" for a in pagerduty.alerts), 60)
    assert sorted(e["dedup_key"] for e in pagerduty.resolved()) == sorted(keys.values())
