"""Per-receiver reminder offsets in the routing file, falling back to the setting's.

GIVEN a routing file where one receiver has its own ``reminders:`` and another has none, and
the setting's offsets (default 72 h and 24 h before the self-service window closes, 24 h
before the scheduled window opens), on a wave whose self-service window closes 2030-03-31 09:00
WHEN the reminders pass runs at each moment and its events are routed
THEN
    | now (before close) | due label          | sms-own (48h; 2h) | email-default |
    | 71 h               | self_service-72h   | -                 | yes           |
    | 47 h               | self_service-48h   | yes               | -             |
    | 23 h               | self_service-24h   | -                 | yes           |
and ``forewarn config validate`` refuses offsets that are not durations longer than 0.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from shared.cli import main as forewarn
from shared.routing.config import ConfigInvalidError, parse_config
from shared.routing.offsets import ReminderOffsets, reminder_label, wants_reminder
from shared.routing.stage import route_event
from shared.wave.notices import Notice, notice_events
from shared.wave.reminders import due_reminders, reminder_notice
from tests.unit.test_wave_reminders import CLOSES, record

ROUTING = """\
version: 1
receivers:
  - name: sms-own
    type: sms
    targets: ["+31612345678"]
    reminders: {self_service: [48h], scheduled: [2h]}
    options: {account_sid: AC00000000000000000000000000000000,
              auth_token_setting: FOREWARN_TWILIO_AUTH_TOKEN, from: "+15005550006"}
  - name: email-default
    type: email
    targets: [ops@example.com]
    options: {from: forewarn@example.com, smtp_host: smtp.example.com}
route:
  receivers: [sms-own, email-default]
"""
H = timedelta(hours=1)


def test_the_routing_file_gives_a_receiver_its_own_offsets() -> None:
    config = parse_config(ROUTING)
    assert config.reminders == {"sms-own": ReminderOffsets((48 * H,), (2 * H,))}
    assert "email-default" not in config.reminders


@pytest.mark.parametrize(
    ("before_close", "expected"),
    [
        (71 * H, {"self_service-72h": ["email-default"]}),
        (47 * H, {"self_service-48h": ["sms-own"]}),
        (23 * H, {"self_service-24h": ["email-default"], "scheduled-24h": ["email-default"]}),
        # Both deadlines at once (a first pass this late): the most urgent of each goes out.
        (1 * H, {"self_service-24h": ["email-default"], "scheduled-2h": ["sms-own"]}),
    ],
)
def test_each_reminder_goes_to_the_receivers_that_want_it(
    before_close: timedelta, expected: dict[str, list[str]]
) -> None:
    config = parse_config(ROUTING)
    setting = ReminderOffsets()
    now = CLOSES - before_close
    # The pass works out reminders at every offset anyone wants (what the runner does).
    wanted = setting.union(*config.reminders.values())
    due = due_reminders([record()], now, wanted)
    assert sorted(reminder.label for reminder in due) == sorted(expected)
    notices = [reminder_notice(reminder, reminder.record) for reminder in due]
    routed = {}
    for enriched, _ in notice_events(notices, now):
        label = reminder_label(enriched.event)
        assert label is not None
        jobs = route_event(enriched, config, now, reminders=setting)
        routed[label] = [job.receiver.name for job in jobs]
    assert routed == expected


def test_a_receiver_without_its_own_follows_the_setting() -> None:
    own = {"sms-own": ReminderOffsets((48 * H,), ())}
    setting = ReminderOffsets.parse("self_service=12h")
    assert wants_reminder("email-default", "self_service-12h", own, setting)
    assert not wants_reminder("email-default", "self_service-72h", own, setting)
    assert not wants_reminder("sms-own", "self_service-12h", own, setting)
    assert not wants_reminder("sms-own", "scheduled-24h", own, setting)  # left out: none


def test_anything_but_a_reminder_reaches_everyone_as_before() -> None:
    config = parse_config(ROUTING)
    rec = record()
    notice = Notice("vm_added", rec.vm, rec.tracking_id, "added", None, "found")
    [(enriched, _)] = notice_events([notice], CLOSES - 100 * H)
    assert reminder_label(enriched.event) is None
    jobs = route_event(enriched, config, CLOSES - 100 * H, reminders=ReminderOffsets((), ()))
    assert sorted(job.receiver.name for job in jobs) == ["email-default", "sms-own"]


@pytest.mark.parametrize(
    "reminders",
    ["{self_service: [0h]}", "{self_service: [3x]}", "{weekly: [24h]}", "{scheduled: 24h}"],
)
def test_bad_offsets_are_refused(reminders: str, tmp_path: Path) -> None:
    text = ROUTING.replace("{self_service: [48h], scheduled: [2h]}", reminders)
    with pytest.raises(ConfigInvalidError) as caught:
        parse_config(text)
    assert any("/receivers/0/reminders" in p.pointer for p in caught.value.problems)
    path = tmp_path / "routing.yaml"
    path.write_text(text, encoding="utf-8")
    assert forewarn(["config", "validate", str(path)]) == 2
