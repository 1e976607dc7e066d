"""The dev host's queue pollers under storage faults, and what ``/api/health`` says of them.

Each test hosts a small app of its own on a real Azurite; outages are real: a connection
string at a closed loopback port, a queue emptied under a running function, an Azurite
process killed and started again on its data directory.
"""

from __future__ import annotations

import base64
import contextlib
import threading
import time
import uuid
from collections.abc import Iterator, MutableMapping
from pathlib import Path

import azure.functions as func
import pytest
import requests
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from shared import names
from shared.devhost.host import DevHost
from shared.devhost.settings import QueueOptions
from shared.standins.stand_in import closed_port
from shared.storage import azurite_connection_string
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration

OPTIONS = QueueOptions(
    batch_size=4,
    max_dequeue_count=5,
    visibility_timeout_seconds=1,
    max_polling_interval_seconds=0.2,
)


class Calls:
    """What the hosted function saw, and a gate a test may hold it at."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, int, float]] = []
        self.lock = threading.Lock()
        self.entered = threading.Event()
        self.release = threading.Event()

    def add(self, body: str, dequeue_count: int) -> None:
        with self.lock:
            self.seen.append((body, dequeue_count, time.monotonic()))

    def bodies(self) -> list[str]:
        with self.lock:
            return [body for body, _, _ in self.seen]

    def times(self, body: str) -> list[float]:
        with self.lock:
            return [at for seen, _, at in self.seen if seen == body]


def app_for(calls: Calls, queue: str) -> func.FunctionApp:
    app = func.FunctionApp()

    @app.function_name("work")
    @app.queue_trigger(arg_name="msg", queue_name=queue, connection=names.STORAGE_CONNECTION)
    def work(msg: func.QueueMessage) -> None:
        body = msg.get_body().decode()
        calls.add(body, msg.dequeue_count or 0)
        if body == "gated":
            calls.entered.set()
            calls.release.wait(20)
        elif body == "slow":
            time.sleep(4)
        elif body == "fails":
            raise RuntimeError("retry me")

    return app


def unique_queue() -> str:
    return f"faults-{uuid.uuid4().hex[:10]}"


def queue_of(connection_string: str, name: str) -> QueueClient:
    client = QueueClient.from_connection_string(connection_string, name)
    with contextlib.suppress(ResourceExistsError):
        client.create_queue()
    return client


def send(queue: QueueClient, text: str) -> None:
    queue.send_message(base64.b64encode(text.encode()).decode())


def wait_for(condition: object, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return bool(condition())  # type: ignore[operator]


@contextlib.contextmanager
def hosting(
    calls: Calls, queue: str, environ: MutableMapping[str, str], **options: float
) -> Iterator[DevHost]:
    host = DevHost(
        app_for(calls, queue),
        environ=environ,
        port=0,
        queue_options=OPTIONS,
        **options,  # type: ignore[arg-type]
    )
    with host:
        yield host


def health(host: DevHost) -> requests.Response:
    return requests.get(f"{host.base_url}/api/health", timeout=10)


def test_a_finishing_call_that_fails_does_not_end_the_poller(azurite: Azurite) -> None:
    """The message vanishes while its function runs (a lapsed lease, a cleared queue): the
    delete that finishes it fails. The poller logs that and goes on with the next message."""
    calls, name = Calls(), unique_queue()
    queue = queue_of(azurite.connection_string, name)
    with hosting(calls, name, {names.STORAGE_CONNECTION: azurite.connection_string}) as host:
        send(queue, "gated")
        assert calls.entered.wait(10)
        queue.clear_messages()  # its delete now answers 404
        calls.release.set()
        time.sleep(0.5)
        send(queue, "after")
        assert wait_for(lambda: "after" in calls.bodies(), 10), calls.bodies()
        answer = health(host)
        assert answer.status_code == 200, answer.text
        assert answer.json()["pollers"] == {"work": "ok"}


def test_a_host_started_while_storage_is_unreachable_works_once_it_is_back(
    azurite: Azurite,
) -> None:
    calls, name = Calls(), unique_queue()
    port = closed_port()
    environ = {names.STORAGE_CONNECTION: azurite_connection_string(port, port, port)}
    with hosting(calls, name, environ, stuck_after_seconds=1.5) as host:
        time.sleep(2.5)
        down = health(host)
        assert down.status_code == 503, down.text
        assert down.json()["status"] == "degraded"
        assert down.json()["pollers"]["work"].startswith("stalled")
        environ[names.STORAGE_CONNECTION] = azurite.connection_string  # storage is back
        send(queue_of(azurite.connection_string, name), "hello")
        assert wait_for(lambda: "hello" in calls.bodies(), 15), calls.bodies()
        assert wait_for(lambda: health(host).status_code == 200, 5)


def test_each_message_completes_on_its_own(azurite: Azurite) -> None:
    """A slow message in the same batch does not hold back the retry of a failed one."""
    calls, name = Calls(), unique_queue()
    queue = queue_of(azurite.connection_string, name)
    with hosting(calls, name, {names.STORAGE_CONNECTION: azurite.connection_string}):
        send(queue, "slow")
        send(queue, "fails")
        assert wait_for(lambda: len(calls.times("fails")) >= 2, 10), calls.bodies()
        first, second = calls.times("fails")[:2]
        # visibility timeout 1 s + polling; the slow message (4 s) must not be waited for
        assert second - first < 3.0


def test_a_long_running_function_keeps_its_message_leased(azurite: Azurite) -> None:
    """The lease is renewed while the function runs: no second copy runs beside it."""
    calls, name = Calls(), unique_queue()
    queue = queue_of(azurite.connection_string, name)
    environ = {names.STORAGE_CONNECTION: azurite.connection_string}
    with hosting(calls, name, environ, message_lease_seconds=1.5) as host:
        send(queue, "slow")
        assert wait_for(lambda: "slow" in calls.bodies(), 5)
        assert host.wait_until_idle(15)
    assert calls.bodies() == ["slow"]
    assert list(queue.peek_messages()) == []


def test_pollers_carry_on_after_azurite_is_stopped_and_started_again(tmp_path: Path) -> None:
    calls, name = Calls(), unique_queue()
    with Azurite.start(location=tmp_path / "data") as storage:
        queue = queue_of(storage.connection_string, name)
        environ = {names.STORAGE_CONNECTION: storage.connection_string}
        with hosting(calls, name, environ) as host:
            send(queue, "before")
            assert wait_for(lambda: "before" in calls.bodies(), 10)
            send(queue, "gated")
            assert calls.entered.wait(10)
            storage.kill()  # the outage starts while "gated" runs: its delete will fail
            calls.release.set()
            time.sleep(4)
            storage.restart()
            send(queue, "after")
            assert wait_for(lambda: "after" in calls.bodies(), 20), calls.bodies()
            assert wait_for(lambda: health(host).status_code == 200, 10)
            # "gated" was not deleted: it comes back after its lease and runs again
            assert host.wait_until_idle(40)
        assert calls.bodies().count("before") == 1
