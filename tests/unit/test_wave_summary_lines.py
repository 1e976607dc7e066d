"""A wave notice's summary says one line per VM ("web-1: claimed by Alice"); each receiver
reads the lines of its own VMs only (shared/wave/notices.py, ``summary_for``), on the wave of
test_wave_reminders.py: web-1 in rg-web, and db-1, its twin in rg-data."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

import pytest

from shared.models import VirtualMachine
from shared.render import render_message
from shared.routing.config import parse_config
from shared.routing.stage import route_receivers
from shared.wave.escalations import escalation_notice
from shared.wave.notices import Notice, notice_events
from shared.wave.reminders import ReminderOffsets, due_reminders, reminder_notice
from tests.support.truth_oracle import strings
from tests.unit.test_renderers import receiver_for
from tests.unit.test_wave_reminders import CLOSES, H, record

NOW = CLOSES - 23 * H


def _db(vm: VirtualMachine) -> VirtualMachine:
    return replace(
        vm,
        id=vm.id.replace("/resourceGroups/rg-web/", "/resourceGroups/rg-data/").replace(
            "/web-1", "/db-1"
        ),
        name="db-1",
        resource_group="rg-data",
    )


def _reminders() -> list[Notice]:
    [reminder, *_] = due_reminders([record()], NOW, ReminderOffsets())
    web = reminder_notice(reminder, reminder.record)
    db = replace(web, vm=_db(web.vm))
    return [replace(web, detail="claimed by Alice"), replace(db, detail="claimed by Bob")]


ROUTING = """\
version: 1
receivers:
  - {name: web-team, type: CHANNEL, options: OPTIONS, targets: [TARGET]}
  - {name: data-team, type: CHANNEL, options: OPTIONS, targets: [TARGET]}
  - {name: everyone, type: CHANNEL, options: OPTIONS, targets: [TARGET]}
route:
  receivers: [everyone]
  routes:
    - {match: {resource_groups: [rg-web]}, receivers: [web-team], continue: true}
    - {match: {resource_groups: [rg-data]}, receivers: [data-team], continue: true}
    - {receivers: [everyone]}
"""
TARGETS = {
    "email": "ops@example.com",
    "sms": '"+15551234567"',
    "webhook": "https://hook.example/in",
}
OPTIONS = {
    "email": "{from: forewarn@example.com, smtp_host: smtp.example.com}",
    "sms": '{account_sid: AC1, auth_token_setting: X_TOKEN, from: "+15005550006"}',
    "webhook": "{secret_setting: FOREWARN_WEBHOOK_SIGNING_SECRET}",
    "slack": "{webhook_url_setting: X_SLACK}",
    "teams": "{webhook_url_setting: X_TEAMS}",
}

CASES = [
    # GIVEN receiver   THEN the summary lines it reads    and never
    ("web-team", ["web-1: claimed by Alice"], ["db-1: claimed by Bob"]),
    ("data-team", ["db-1: claimed by Bob"], ["web-1: claimed by Alice"]),
    ("everyone", ["web-1: claimed by Alice", "db-1: claimed by Bob"], []),
]


def _routing(channel: str) -> str:
    text = ROUTING.replace("CHANNEL", channel).replace(
        "options: OPTIONS", f"options: {OPTIONS[channel]}"
    )
    if channel in TARGETS:
        return text.replace("TARGET", TARGETS[channel])
    return text.replace(", targets: [TARGET]", "")


@pytest.mark.parametrize("channel", ["email", "sms", "slack", "teams", "webhook"])
@pytest.mark.parametrize(("receiver", "said", "unsaid"), CASES, ids=[c[0] for c in CASES])
def test_each_receiver_reads_the_summary_lines_of_its_own_vms_only(
    channel: str, receiver: str, said: list[str], unsaid: list[str]
) -> None:
    # GIVEN one reminder event about web-1 (Alice's) and db-1 (Bob's), two teams' VMs
    [(enriched, _)] = notice_events(_reminders(), NOW)
    # WHEN it is routed to the web team, the data team and a receiver of both
    routed = route_receivers(enriched, parse_config(_routing(channel)), NOW)
    [message] = [job.message for job in routed.jobs if job.receiver.name == receiver]
    # THEN the receiver reads its own VMs' lines, and none about the other team's VM
    text = "\n".join([message.subject, message.text, *strings(message.payload or {})])
    if channel != "sms":  # an SMS says the owner beside its one deadline, not line by line
        assert [line for line in said if line in text] == said
    assert [line for line in unsaid if line in text] == []


def _escalation() -> Notice:
    return escalation_notice(record())


def _reminder() -> Notice:
    [reminder, *_] = due_reminders([record()], NOW, ReminderOffsets())
    return reminder_notice(reminder, reminder.record)


# web-1's self-service window closes 2030-03-31 09:00 UTC, the night Paris turns to CEST.
MOMENT_CASES = [
    # GIVEN the notice, WHEN read in   THEN its summary line says
    ("escalation, Paris", _escalation, "Europe/Paris",
     "web-1: escalated: nobody claimed or started it; the self-service window closes at "
     "Sun 31 Mar 11:00 CEST"),
    ("escalation, UTC", _escalation, "UTC",
     "web-1: escalated: nobody claimed or started it; the self-service window closes at "
     "Sun 31 Mar 09:00 UTC"),
    ("reminder, Los Angeles", _reminder, "America/Los_Angeles",
     "web-1: scheduled window opens Sun 31 Mar 02:05 PDT; self-service Fri 1 Mar 01:00 PST "
     "to Sun 31 Mar 02:00 PDT, scheduled Sun 31 Mar 02:05 PDT to Mon 1 Apr 02:00 PDT"),
]  # fmt: skip


@pytest.mark.parametrize("channel", ["email", "slack", "teams"])
@pytest.mark.parametrize(
    ("notice", "zone", "line"), [c[1:] for c in MOMENT_CASES], ids=[c[0] for c in MOMENT_CASES]
)
def test_a_wave_notices_moments_are_said_in_the_receivers_zone(
    channel: str, notice: Callable[[], Notice], zone: str, line: str
) -> None:
    [(enriched, _)] = notice_events([notice()], NOW)
    message = render_message(enriched, receiver_for(channel, timezone=zone), enriched.vms, NOW)
    text = "\n".join([message.subject, message.text, *strings(message.payload or {})])
    assert line in text.replace("\n", " ")
    assert not re.search(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", text)
