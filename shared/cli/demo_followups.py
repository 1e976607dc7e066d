"""``forewarn demo``, after the first notice: a partial completion and a reminder.

What following the wave sends, through the same timers' code (``WaveRunner``), the same queues
and the hosted route and deliver functions as in Azure:

    sql-01's maintenance, started from the message (demo_start.py), has completed, and its
    notice told every receiver so and what remains ("Still to do: start sql-02 by …; Azure
    does 3 others from …", never "over" while VMs are open); the sweep then finds sql-01's
    record completed already and says nothing twice

    Alice presses "Claim sql-02" on the Slack message (the stand-in Slack signs the press as
    Slack does); the message changes in place to say "sql-02: claimed by Alice"

    the reminders pass then reminds of sql-02's self-service deadline, with the advice the first
    notice gave, to Alice's receiver (Slack) only: the other channels hear nothing. The
    demo's windows close 9 days after the fleet is made, so the demo adds one
    reminder offset to its settings, 215 h (``DEMO_REMINDER_OFFSETS``): due minutes after the
    first notice, and its title says that offset rather than pretend to be the 72 h reminder.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import timedelta
from typing import Any

from shared.cli.demo_show import received_messages, show
from shared.enrich.services import EnrichmentServices
from shared.models import Receiver, RenderedMessage
from shared.routing.offsets import ReminderOffsets
from shared.standins.slack_server import Person, press
from shared.timeutil import parse_utc, utc_now
from shared.wave.runner import WaveRunner

DONE_VM = "sql-01"
REMINDED_VM = "sql-02"
# The demo fleet's sql-02 closes 9 days (216 h) after it is made: 215 h is due within the hour.
REMINDER_OFFSET = timedelta(hours=215)
DEMO_REMINDER_OFFSETS = "self_service=72h,24h,215h;scheduled=24h"
CHANNELS_COUNTED = ("email", "sms", "teams", "webhook")  # Slack threads its follow-ups


def _arrived(stack: Any, counts: dict[str, int]) -> bool:
    now = stack.deliveries()
    slack = len(stack.sinks.slack.messages)
    return (
        all(now[channel] > counts[channel] for channel in CHANNELS_COUNTED if channel in now)
        and slack > counts["slack_messages"]
    )


def _counts(stack: Any) -> dict[str, int]:
    return {**stack.deliveries(), "slack_messages": len(stack.sinks.slack.messages)}


def _wait_and_take(
    stack: Any, counts: dict[str, int], timeout: float, what: str
) -> list[tuple[Receiver, RenderedMessage]] | None:
    if not stack.wait_until(lambda: _arrived(stack, counts), timeout):
        print(f"forewarn demo: the {what} did not reach everyone: {stack.deliveries()}")
        return None
    # Deliveries to one channel go one at a time; let the last ones land before reading.
    stack.wait_until(lambda: False, 0.5)
    taken = received_messages(stack, pick=-1)
    for receiver, message in taken:
        show(receiver, message)
    # The preview heads each message by its receiver: say which follow-up it is.
    return [
        (replace(receiver, name=f"{receiver.name}: {what}"), message) for receiver, message in taken
    ]


def follow_up_and_show(stack: Any, timeout: float) -> list[tuple[Receiver, RenderedMessage]] | None:
    """A sweep after step 1 (nothing twice), a claim and a reminder; what the owner got, or
    None on a timeout."""
    # Its own instance-view cache: the stack's shared one still holds the VMs as the first
    # notice read them minutes ago (timers run hours apart in Azure, past its 5 minutes).
    runner = WaveRunner.from_settings(os.environ, services=EnrichmentServices.create(os.environ))
    by_name = {vm.name: vm for vm in stack.fleet.vms.values()}
    done, reminded = by_name[DONE_VM], by_name[REMINDED_VM]
    subscription = done.subscription_id

    print(f"\n=== {DONE_VM}'s maintenance completed (started from the message); a sweep " + "=" * 8)
    if (done.maintenance or {}).get("lastOperationResultCode") != "MaintenanceCompleted":
        print(f"forewarn demo: {DONE_VM}'s maintenance has not completed in the stand-in ARM")
        return None
    report = runner.sweep([subscription], utc_now())
    print(
        f"  sweep: {len(report.notices)} notice(s)"
        + "".join(f", {n.kind} {n.vm_id.rsplit('/', 1)[-1]}" for n in report.notices)
    )
    if report.notices:
        print(f"forewarn demo: the sweep told again what the Start notice told of {DONE_VM}")
        return None
    print(
        f"  {DONE_VM}'s record says completed since the Start notice told every receiver; "
        "the sweep says nothing twice"
    )

    record = runner.records.get(reminded.id)
    if record is None or not record.self_service_window.end:
        print(f"forewarn demo: no record of {REMINDED_VM} to remind of")
        return None
    close = parse_utc(record.self_service_window.end)
    moment = close - REMINDER_OFFSET
    if moment < parse_utc(record.first_seen):
        print(f"forewarn demo: {REMINDED_VM}'s reminder would fall before its first notice")
        return None
    if not _claim_in_slack(stack):
        return None
    # The pass runs when the reminder falls due (at most an hour from now, as the hourly timer).
    at = max(utc_now(), moment + timedelta(seconds=1))
    print(f"\n=== the reminders pass: {REMINDED_VM}'s window closes in about 215 h " + "=" * 16)
    counts = _counts(stack)
    report = runner.remind(at, ReminderOffsets.parse(DEMO_REMINDER_OFFSETS))
    print(
        f"  reminders: {len(report.notices)} notice(s): "
        + ", ".join(
            f"{n.kind} {n.vm_id.rsplit('/', 1)[-1]} due {n.due} to {', '.join(n.receivers)}"
            for n in report.notices
        )
    )
    reminder = _owner_reminded(stack, counts, timeout)
    if reminder is None:
        return None
    return reminder


def _claim_in_slack(stack: Any) -> bool:
    """Press "Claim sql-02" on the first Slack message, as Alice, and show what changed."""
    print(f"\n=== Alice presses “Claim {REMINDED_VM}” on the Slack message " + "=" * 22)
    slack = stack.sinks.slack
    button = f"Claim {REMINDED_VM}"
    first = next(
        (m for m in slack.messages if m.thread_ts is None and button in str(m.blocks)),
        None,
    )
    if first is None:
        print(f"forewarn demo: no Slack message with a “{button}” button")
        return False
    answer = press(stack.base_url, first, button, Person(name="Alice"))
    updated = [u for u in slack.updates if u.ts == first.ts]
    said = [
        element.get("text", "")
        for block in (updated[-1].blocks if updated else [])
        if block.get("block_id") == "forewarn-owners"
        for element in block.get("elements", [])
    ]
    print(f"  POST /api/slack/interactivity (signed by the stand-in Slack) -> {answer.status_code}")
    print(f"  the message now says: {' | '.join(said) or '(not updated)'}")
    return answer.status_code == 200 and bool(said)


def _owner_reminded(
    stack: Any, counts: dict[str, int], timeout: float
) -> list[tuple[Receiver, RenderedMessage]] | None:
    """The reminder in Slack (Alice's receiver); nothing on the other channels."""
    slack = stack.sinks.slack
    if not stack.wait_until(lambda: len(slack.messages) > counts["slack_messages"], timeout):
        print("forewarn demo: the reminder did not reach Alice's receiver (Slack)")
        return None
    stack.wait_until(lambda: False, 1.0)  # time enough for any other channel to get one too
    others = {
        channel: number - counts[channel]
        for channel, number in stack.deliveries().items()
        if channel in CHANNELS_COUNTED and number > counts[channel]
    }
    print(
        f"  {REMINDED_VM} is Alice's: reminded in Slack only; the other channels got "
        + (", ".join(f"{n} on {channel}" for channel, n in others.items()) or "nothing")
    )
    top = slack.messages[counts["slack_messages"]]
    receiver = stack.sinks.receiver("slack", "slack-demo", timezone="Europe/Amsterdam")
    message = RenderedMessage(
        channel="slack", subject="", text=top.text, payload={"blocks": top.blocks}
    )
    show(receiver, message)
    return [(replace(receiver, name=f"{receiver.name}: reminder to the owner only"), message)]
