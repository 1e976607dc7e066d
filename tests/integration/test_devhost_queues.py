"""The dev host's queue triggers behave as host.json says: retries, dequeue count, poison."""

from __future__ import annotations

import base64
import contextlib
import threading
import time
from collections.abc import Iterator

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from shared import names
from shared.devhost.cron import CronSchedule
from shared.devhost.host import DevHost
from shared.devhost.settings import QueueOptions, timespan_seconds
from shared.storage import AzureQueuePublisher, StorageEndpoints
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def add(self, body: str, dequeue_count: int) -> None:
        with self.lock:
            self.calls.append((body, dequeue_count))


def make_app(recorder: Recorder, queue: str) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.function_name("flaky")
    @app.queue_trigger(arg_name="msg", queue_name=queue, connection=names.STORAGE_CONNECTION)
    def flaky(msg: func.QueueMessage) -> None:
        body = msg.get_body().decode()
        recorder.add(body, msg.dequeue_count or 0)
        if body == "always-fails":
            raise RuntimeError("boom")
        if body == "fails-twice" and (msg.dequeue_count or 0) < 3:
            raise RuntimeError("not yet")

    return app


@pytest.fixture
def hosted(azurite: Azurite) -> Iterator[tuple[DevHost, Recorder, QueueClient, QueueClient]]:
    queue_name = f"devhost-{int(time.time() * 1000) % 10**8}"
    recorder = Recorder()
    host = DevHost(
        make_app(recorder, queue_name),
        environ={names.STORAGE_CONNECTION: azurite.connection_string},
        port=0,
        queue_options=QueueOptions(
            batch_size=4,
            max_dequeue_count=3,
            visibility_timeout_seconds=0,
            max_polling_interval_seconds=0.2,
        ),
    )
    queue = QueueClient.from_connection_string(azurite.connection_string, queue_name)
    poison = QueueClient.from_connection_string(
        azurite.connection_string, queue_name + names.POISON_SUFFIX
    )
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    with host:
        yield host, recorder, queue, poison


def send(queue: QueueClient, text: str) -> None:
    queue.send_message(base64.b64encode(text.encode()).decode())


def test_success_retry_and_poison(
    hosted: tuple[DevHost, Recorder, QueueClient, QueueClient],
) -> None:
    host, recorder, queue, poison = hosted
    for body in ("works", "fails-twice", "always-fails"):
        send(queue, body)
    assert host.wait_until_idle(30)
    attempts: dict[str, list[int]] = {}
    for body, count in recorder.calls:
        attempts.setdefault(body, []).append(count)
    assert attempts["works"] == [1]
    assert sorted(attempts["fails-twice"]) == [1, 2, 3]
    assert sorted(attempts["always-fails"]) == [1, 2, 3]
    poisoned = [base64.b64decode(m.content).decode() for m in poison.peek_messages(max_messages=10)]
    assert poisoned == ["always-fails"]
    assert list(queue.peek_messages(max_messages=10)) == []


def test_a_message_sent_by_this_process_wakes_an_idle_poller_at_once(azurite: Azurite) -> None:
    """GIVEN a poller idle long enough to wait 1.6 s between polls (its interval doubles while
    the queue is empty, up to 5 s here), WHEN a stage of this process sends a message, THEN
    the function runs within a second, not at the next poll ~1.45 s later."""
    queue_name = f"devhost-wake-{int(time.time() * 1000) % 10**8}"
    recorder = Recorder()
    environ = {names.STORAGE_CONNECTION: azurite.connection_string}
    host = DevHost(
        make_app(recorder, queue_name),
        environ=environ,
        port=0,
        queue_options=QueueOptions(max_polling_interval_seconds=5.0),
    )
    publisher = AzureQueuePublisher(StorageEndpoints.from_settings(environ))
    with host:
        time.sleep(1.7)  # polls at 0, .05, .15, .35, .75, 1.55 s; the next would be at 3.15 s
        sent = time.monotonic()
        publisher.send(queue_name, "works")
        while not recorder.calls and time.monotonic() - sent < 5:
            time.sleep(0.01)
        took = time.monotonic() - sent
    assert recorder.calls == [("works", 1)]
    assert took < 1.0, f"the poller slept on: {took:.2f} s"


def test_host_json_queue_settings_are_read() -> None:
    from pathlib import Path

    options = QueueOptions.from_host_json(Path(__file__).resolve().parents[2] / "host.json")
    assert options.max_dequeue_count == names.MAX_DEQUEUE_COUNT
    assert options.visibility_timeout_seconds == timespan_seconds("00:00:30")
    assert options.batch_size == 16


@pytest.mark.parametrize(
    ("schedule", "after", "expected"),
    [
        ("0 */5 * * * *", "2026-01-01T10:02:30", "2026-01-01T10:05:00"),
        ("30 0 9 * * 1-5", "2026-01-02T09:00:31", "2026-01-05T09:00:30"),  # Fri -> Mon
        ("0 0 0 1 * *", "2026-01-31T12:00:00", "2026-02-01T00:00:00"),
    ],
)
def test_ncrontab_next_occurrence(schedule: str, after: str, expected: str) -> None:
    from datetime import datetime

    moment = CronSchedule.parse(schedule).next_after(datetime.fromisoformat(after))
    assert moment == datetime.fromisoformat(expected)


@pytest.mark.parametrize(("at_start", "runs"), [(frozenset({"hourly"}), 1), (frozenset(), 0)])
def test_a_timer_named_to_run_at_start_runs_as_the_host_starts(
    azurite: Azurite, at_start: frozenset[str], runs: int
) -> None:
    # GIVEN a timer not due for months (the catch-up is hourly), named to run at start or not
    ran = threading.Event()
    app = func.FunctionApp()

    @app.function_name("hourly")
    @app.timer_trigger(arg_name="timer", schedule="0 0 0 1 1 *", run_on_startup=False)
    def hourly(timer: func.TimerRequest) -> None:
        ran.set()

    host = DevHost(
        app,
        environ={names.STORAGE_CONNECTION: azurite.connection_string},
        port=0,
        timers_at_start=at_start,
    )
    # WHEN the host starts THEN it runs once now, or waits for its time
    with host:
        assert int(ran.wait(5 if runs else 1.5)) == runs
