"""The "once" scenarios of the fault campaign (issue 20): every channel, counted per receiver.

    python -m bench.faults --only storage-120s,kill-multi,reposts

Every alert goes to all five stand-in receivers: SMS to two numbers, Slack (a top message and
its details reply), email, Teams and the webhook. One unit = one event × one target; what each
receiver got is counted where it landed:

    sms      messages Twilio accepted; expected events × 2 numbers
    slack    top messages (expected one per event), and replies not under a top message
    email    mails taken by the relay (one per event); repeats with the same Message-ID
    teams    cards; webhook: documents, repeats of an Idempotency-Key included

A duplicate is a message beyond the expected count on its channel. Goals: 0 duplicates while
the worker lives (however long storage is away); across a SIGKILL, at most the requests that
were in flight at the kill (not answered half a second before it); every alert refused during
an outage recovered by the catch-up.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared import names
from shared.parsing.normalise import parse_alert
from shared.standins.activity_rows import service_health_row
from shared.standins.local_stack import sample_alert
from shared.standins.sinks import LocalSinks

if TYPE_CHECKING:
    from bench.faults import Campaign

# An Action Group's six attempts: the first, then 5 s, 20 s, 5 s, 40 s, 5 s apart
# (azure-facts.md §1, from Microsoft's action-groups article).
ACTION_GROUP_PAUSES = (5.0, 20.0, 5.0, 40.0, 5.0)
PER_EVENT = {"sms": 2, "slack": 1, "email": 1, "teams": 1, "webhook": 1}


@dataclass
class OnceRow:
    name: str
    alerts: int
    posts: int
    expected: dict[str, int]
    received: dict[str, int]
    duplicates: dict[str, int]
    missing: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    in_flight_at_kill: int | None = None
    refused: int | None = None
    recovered: int | None = None
    jobs: int | None = None
    jobs_needed: int | None = None


def received(sinks: LocalSinks) -> tuple[dict[str, int], list[str]]:
    """Messages per channel as the receivers saw them, and what looks wrong beyond counts."""
    tops = [m for m in sinks.slack.messages if m.thread_ts is None]
    top_ts = {m.ts for m in tops}
    orphans = [m for m in sinks.slack.messages if m.thread_ts and m.thread_ts not in top_ts]
    ids = Counter(str(mail.message["Message-ID"]) for mail in sinks.smtp.mails)
    notes = []
    if orphans:
        notes.append(f"{len(orphans)} Slack replies not under a top message")
    same_id = sum(count - 1 for count in ids.values())
    if same_id:
        notes.append(f"{same_id} emails repeat a Message-ID")
    return (
        {
            "sms": len(sinks.twilio.messages),
            "slack": len(tops),
            "email": len(sinks.smtp.mails),
            "teams": len(sinks.teams.cards),
            "webhook": len(sinks.webhook.deliveries) + sinks.webhook.repeats,
        },
        notes,
    )


def _requests(sinks: LocalSinks) -> list[Any]:
    return [
        request
        for stand_in in (sinks.twilio, sinks.slack, sinks.teams, sinks.webhook)
        for request in list(stand_in.requests)
    ]


def kill_counting_in_flight(c: Campaign) -> int:
    """SIGKILL serve; how many requests the killed process may not have recorded: those not
    answered half a second before the kill (a recorded answer is written within milliseconds),
    counted after it, when no new request can start. SMTP is not counted."""
    settled_ids = {id(request) for request in _requests(c.sinks) if request.answered}
    time.sleep(0.5)
    c.stop_serve(signal.SIGKILL)
    return sum(1 for request in _requests(c.sinks) if id(request) not in settled_ids)


def settle_counts(c: Campaign, expected: dict[str, int], seconds: float, quiet: float) -> None:
    """Wait until every channel has its expected count, then ``quiet`` more seconds (a late
    duplicate would arrive then)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got, _ = received(c.sinks)
        if all(got[channel] >= want for channel, want in expected.items()):
            break
        time.sleep(0.5)
    time.sleep(quiet)


def row_for(
    c: Campaign, name: str, alerts: int, posts: int, events: set[str], started: float
) -> OnceRow:
    expected = {channel: per * len(events) for channel, per in PER_EVENT.items()}
    got, notes = received(c.sinks)
    delivered = c.delivered()
    return OnceRow(
        name,
        alerts,
        posts,
        expected,
        got,
        {channel: max(got[channel] - expected[channel], 0) for channel in expected},
        missing=sum(1 for event in events if event not in delivered),
        seconds=time.monotonic() - started,
        notes=notes,
    )


def post_until_refused(c: Campaign, alert: dict[str, Any]) -> list[int]:
    """Post as an Action Group does while the app answers 503: six attempts, then it gives up."""
    import requests

    statuses = []
    body = json.dumps(alert).encode("utf-8")
    for pause in (*ACTION_GROUP_PAUSES, None):
        try:
            answer = requests.post(
                f"{c.base}/api/alerts?code={c.key}",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=10,
            )
            statuses.append(answer.status_code)
            if answer.status_code == 202:
                break
        except requests.RequestException:
            statuses.append(0)
        if pause is not None:
            time.sleep(pause)
    return statuses


def storage_down_after_burst(c: Campaign, alerts: int, outage: float) -> OnceRow:
    """A burst, storage killed while its sends are in flight, alerts posted (and refused)
    during the outage, storage back; then one catch-up pass for the refused ones."""
    c.sinks.reset()
    for sink in (c.sinks.twilio, c.sinks.slack, c.sinks.webhook):
        sink.script.hang(2.0, times=alerts)  # the burst is still sending when storage goes
    started = time.monotonic()
    events = {c.post(sample_alert(communication_id=uuid.uuid4().hex)) for _ in range(alerts)}
    deadline = time.monotonic() + 60
    while not c.sinks.twilio.requests and time.monotonic() < deadline:
        time.sleep(0.05)
    assert c.azurite is not None
    assert c.workspace is not None
    c.azurite.kill()
    killed = time.monotonic()
    late = [sample_alert(communication_id=uuid.uuid4().hex) for _ in range(alerts)]
    answers: list[list[int]] = [[] for _ in late]
    posters = [
        threading.Thread(target=lambda i=i: answers[i].extend(post_until_refused(c, late[i])))
        for i in range(len(late))
    ]
    for poster in posters:
        poster.start()
        time.sleep(1.0)
    time.sleep(max(outage - (time.monotonic() - killed), 0.0))
    c.azurite.restart()
    for poster in posters:
        poster.join(120)
    refused = [alert for alert, got in zip(late, answers, strict=True) if 202 not in got]
    settle_counts(c, {ch: per * len(events) for ch, per in PER_EVENT.items()}, 300, 15)
    # The refused alerts, as Azure also writes them to the Activity Log; one catch-up pass.
    now = datetime.now(UTC)
    for alert in refused:
        c.workspace.add_activity(
            service_health_row(alert, time_generated=now - timedelta(minutes=5))
        )
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "catch-up", "--json"],
        env=c.environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    queued = json.loads(done.stdout or "{}").get("queued", 0)
    recovered_ids = {parse_alert(alert, now).event_id for alert in refused}
    everything = events | recovered_ids
    settle_counts(c, {ch: per * len(everything) for ch, per in PER_EVENT.items()}, 300, 15)
    row = row_for(
        c, f"storage down {outage:.0f} s right after a burst", alerts * 2, alerts * 2,
        everything, started,
    )  # fmt: skip
    row.refused = len(refused)
    row.recovered = sum(1 for event in recovered_ids if event in c.delivered())
    row.notes.append(f"catch-up queued {queued}")
    return row


def kill_with_targets_in_flight(c: Campaign, alerts: int) -> OnceRow:
    """SIGKILL of serve while SMS numbers and Slack replies are in flight, then a restart."""
    c.sinks.reset()
    c.sinks.twilio.script.hang(0.0).hang(4.0, times=4 * alerts)
    c.sinks.slack.script.hang(0.0).hang(4.0, times=4 * alerts)
    started = time.monotonic()
    events = {c.post(sample_alert(communication_id=uuid.uuid4().hex)) for _ in range(alerts)}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (
        c.sinks.twilio.messages and any(m.thread_ts is None for m in c.sinks.slack.messages)
    ):
        time.sleep(0.05)
    flying = kill_counting_in_flight(c)
    for sink in (c.sinks.twilio, c.sinks.slack):
        sink.script.clear()
    c.start_serve()
    # a killed job comes back after its 30 s message lease, 60 s claim and 30 s second look
    settle_counts(c, {ch: per * len(events) for ch, per in PER_EVENT.items()}, 400, 20)
    row = row_for(c, "SIGKILL with SMS numbers and Slack replies in flight", alerts, alerts,
                  events, started)  # fmt: skip
    row.in_flight_at_kill = flying
    return row


def identical_reposts(c: Campaign, alerts: int, copies: int) -> OnceRow:
    """Each alert posted ``copies`` times, as Action Group retries and a second rule do."""
    c.sinks.reset()
    started = time.monotonic()
    events: set[str] = set()
    for _ in range(alerts):
        alert = sample_alert(communication_id=uuid.uuid4().hex)
        for _ in range(copies):
            events.add(c.post(alert))
    settle_counts(c, {ch: per * len(events) for ch, per in PER_EVENT.items()}, 300, 10)
    row = row_for(c, f"each alert posted {copies} times", alerts, alerts * copies, events, started)
    row.jobs, row.jobs_needed = delivery_jobs(c, events), len(events) * len(PER_EVENT)
    return row


def delivery_jobs(c: Campaign, events: set[str]) -> int:
    """Jobs that reached delivery: one log row each that says delivered or duplicate."""
    from shared.delivery.records import table_key
    from shared.storage import StorageServices

    log = StorageServices.from_settings(c.environ).table(names.TABLE_DELIVERY_LOG)
    return sum(
        1
        for event in events
        for row in log.query(table_key(event))
        if row.get("outcome") in ("delivered", "duplicate")
    )


def report(rows: list[OnceRow]) -> None:
    channels = list(PER_EVENT)
    print("issue 20 scenarios: all five receivers; duplicates = received beyond expected")
    print(f"{'scenario':52} {'alerts':>6} {'posts':>5} " + " ".join(f"{ch:>9}" for ch in channels))
    for r in rows:
        cells = " ".join(f"{r.received[ch]:>4}/{r.expected[ch]:<4}" for ch in channels)
        print(f"{r.name:52} {r.alerts:>6} {r.posts:>5} {cells}")
        dups = ", ".join(f"{ch} {r.duplicates[ch]}" for ch in channels)
        extra = [f"duplicates: {dups} (total {sum(r.duplicates.values())})"]
        extra.append(f"missing {r.missing}")
        if r.in_flight_at_kill is not None:
            extra.append(f"requests in flight at the kill {r.in_flight_at_kill}")
        if r.refused is not None:
            extra.append(f"refused during the outage {r.refused}, recovered {r.recovered}")
        if r.jobs is not None:
            extra.append(f"delivery jobs {r.jobs} for {r.jobs_needed} needed")
        extra.append(f"{r.seconds:.0f} s")
        print("    " + "; ".join(extra + r.notes))
