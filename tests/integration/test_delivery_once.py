"""Each person hears each message once: storage really stopped, a worker process really killed.

Real Azurite (its own process, data on disk, killed and started again), the Twilio and Slack
stand-ins, and the app's own senders and delivery stage, driven as the queue trigger does.
Durations are short here (a 2 s claim, outages of seconds); the stage takes them as parameters
and ``bench faults`` runs the real ones (60 s claim, a 120 s outage).

GIVEN an SMS job to 3 numbers, its send in flight
WHEN  storage is away for four claim leases and the job's message reaches a second worker
      the moment storage is back
THEN  each number gets one message: the second worker waits, the first records the job

GIVEN the same job in a worker process, the first number reached, the second in flight
WHEN  the process is SIGKILLed
THEN  the next worker sends to the two other numbers only

GIVEN a Slack job (a top message and its details reply) in a worker process
WHEN  the process is SIGKILLed after the top message, the reply in flight
THEN  one top message; the next worker posts the reply under it
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from shared import names
from shared.channels import default_senders
from shared.delivery.records import table_key
from shared.delivery.stage import DeliveryStage, StageOutcome
from shared.models import DeliveryJob, Receiver, RenderedMessage
from shared.standins.sinks import LocalSinks
from shared.storage import StorageServices
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LEASE = timedelta(seconds=2)
NUMBERS = ["+15550100001", "+15550100002", "+15550100003"]


@pytest.fixture
def sinks() -> Iterator[LocalSinks]:
    with LocalSinks(timeout_seconds=30.0) as running:
        yield running


def job_for(receiver: Receiver, message: RenderedMessage) -> DeliveryJob:
    event_id = f"evt-{uuid.uuid4().hex[:12]}"
    return DeliveryJob(
        job_id=f"{event_id}:{receiver.name}",
        event_id=event_id,
        receiver=receiver,
        message=message,
        created_at="2026-12-01T10:00:00Z",
    )


def sms_job(sinks: LocalSinks) -> DeliveryJob:
    receiver = replace(sinks.receiver("sms"), targets=list(NUMBERS))
    return job_for(receiver, RenderedMessage("sms", "", "Maintenance: vm-01 Tue 10:00 UTC"))


def slack_job(sinks: LocalSinks) -> DeliveryJob:
    receiver = sinks.receiver("slack")
    receiver = replace(receiver, targets=receiver.targets[:1])
    details = {"text": "Details: vm-01, vm-02", "blocks": []}
    message = RenderedMessage(
        "slack", "Maintenance", "Maintenance: 2 VMs", payload={"blocks": [], "thread": [details]}
    )
    return job_for(receiver, message)


def message_text(job: DeliveryJob) -> str:
    return json.dumps(
        {"v": 1, "kind": "delivery", "id": job.job_id, "body": job.to_json()},
        separators=(",", ":"),
    )


def stage_on(settings: dict[str, str], **options: object) -> DeliveryStage:
    return DeliveryStage(
        StorageServices.from_settings(settings),
        default_senders(settings),
        environ=settings,
        lease=LEASE,
        **options,  # type: ignore[arg-type]
    )


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def until_settled(stage: DeliveryStage, text: str, rounds: int = 8) -> list[str]:
    """Hand the message to ``stage`` as the host would, waiting out each ``busy``."""
    actions = []
    for _ in range(rounds):
        outcome = stage.handle(text)
        actions.append(outcome.action)
        if outcome.action != "busy":
            break
        time.sleep(outcome.delay_seconds)
    return actions


def ledger_state(settings: dict[str, str], job: DeliveryJob) -> str | None:
    table = StorageServices.from_settings(settings).table(names.TABLE_IDEMPOTENCY)
    row = table.get(table_key(job.event_id), table_key(job.receiver.name))
    return None if row is None else str(row["state"])


def per_number(sinks: LocalSinks) -> Counter[str]:
    return Counter(message.to for message in sinks.twilio.messages)


def test_a_live_worker_sends_each_number_once_however_long_storage_is_away(
    sinks: LocalSinks, tmp_path: Path
) -> None:
    with Azurite.start(location=tmp_path / "data") as storage:
        settings = {names.STORAGE_CONNECTION: storage.connection_string, **sinks.environ}
        job = sms_job(sinks)
        worker_a = stage_on(settings, confirm=timedelta(seconds=10))
        worker_b = stage_on(settings, confirm=timedelta(seconds=10))
        sinks.twilio.script.hang(1.0)  # the first number is in flight when storage goes
        outcome: list[StageOutcome | BaseException] = []

        def deliver() -> None:
            try:
                outcome.append(worker_a.handle(message_text(job)))
            except BaseException as error:
                outcome.append(error)

        thread = threading.Thread(target=deliver)
        thread.start()
        assert wait_for(lambda: bool(sinks.twilio.requests), 10)
        storage.kill()  # the sends go on; the ledger cannot be written
        time.sleep(4 * LEASE.total_seconds())  # the claim lapses: nobody can renew it
        storage.restart()
        # WHEN the job's queue message (its lease lapsed too) reaches a second worker at once
        second = until_settled(worker_b, message_text(job))
        thread.join(60)
        # THEN the first worker recorded it and the second sent nothing
        assert [getattr(o, "action", o) for o in outcome] == ["delivered"]
        assert second[-1] == "duplicate" and set(second[:-1]) <= {"busy"}
        assert per_number(sinks) == Counter(NUMBERS)
        assert ledger_state(settings, job) == "delivered"


def run_worker(settings: dict[str, str], job: DeliveryJob, tmp_path: Path) -> subprocess.Popen[str]:
    message = tmp_path / f"{job.event_id}.json"
    message.write_text(message_text(job), encoding="utf-8")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.delivery_worker",
            str(message),
            str(LEASE.total_seconds()),
        ],
        cwd=ROOT,
        env={**os.environ, **settings},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def kill_when(worker: subprocess.Popen[str], reached: Callable[[], bool]) -> None:
    try:
        assert wait_for(reached, 30), "the worker never got that far"
    finally:
        worker.kill()  # SIGKILL: no finally blocks, no ledger write
        worker.wait(10)


def test_a_killed_worker_is_followed_by_sends_to_the_numbers_it_had_not_reached(
    sinks: LocalSinks, azurite: Azurite, tmp_path: Path
) -> None:
    settings = {names.STORAGE_CONNECTION: azurite.connection_string, **sinks.environ}
    job = sms_job(sinks)
    # GIVEN the first number answered at once, the second one hanging (then refused)
    sinks.twilio.script.hang(0.0).hang(30.0, status=503)
    worker = run_worker(settings, job, tmp_path)
    # WHEN the worker process is killed while the second number is in flight
    kill_when(worker, lambda: len(sinks.twilio.requests) >= 2)
    assert per_number(sinks) == Counter(NUMBERS[:1])
    sinks.twilio.script.clear()
    # THEN the next worker waits out the claim, then sends only to the other two numbers
    actions = until_settled(stage_on(settings), message_text(job))
    assert actions[-1] == "delivered" and set(actions[:-1]) <= {"busy"}
    assert per_number(sinks) == Counter(NUMBERS)
    assert ledger_state(settings, job) == "delivered"


def test_a_killed_workers_slack_reply_follows_its_own_top_message(
    sinks: LocalSinks, azurite: Azurite, tmp_path: Path
) -> None:
    settings = {names.STORAGE_CONNECTION: azurite.connection_string, **sinks.environ}
    job = slack_job(sinks)
    # GIVEN the top message posted at once, its details reply hanging (then refused)
    sinks.slack.script.hang(0.0).hang(30.0, status=503)
    worker = run_worker(settings, job, tmp_path)
    # WHEN the worker is killed while the reply is in flight
    kill_when(worker, lambda: len(sinks.slack.requests) >= 2)
    sinks.slack.script.clear()
    [top] = sinks.slack.messages
    # THEN the next worker posts only the reply, in the top message's thread
    actions = until_settled(stage_on(settings), message_text(job))
    assert actions[-1] == "delivered"
    assert [(m.thread_ts, m.text) for m in sinks.slack.messages] == [
        (None, top.text),
        (top.ts, "Details: vm-01, vm-02"),
    ]
