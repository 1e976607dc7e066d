"""`forewarn serve` on Azurite: real HTTP in, real queue message out."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import QueueClient

from shared import names
from shared.standins.served import served as serve_process
from shared.standins.stand_in import closed_port
from shared.storage import azurite_connection_string
from tests.conftest import FIXTURES, load_fixture
from tests.support.azurite import Azurite

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
KEY = "local-test-alerts-key"
MAINTENANCE = (FIXTURES / "forewarn" / "common-servicehealth-maintenance-planned.json").read_bytes()


@pytest.fixture(scope="module")
def served(azurite: Azurite) -> Iterator[str]:
    with serve_process(azurite.connection_string, KEY) as base:
        yield base


def events_queue(azurite: Azurite) -> QueueClient:
    queue = QueueClient.from_connection_string(azurite.connection_string, names.QUEUE_EVENTS)
    with contextlib.suppress(ResourceExistsError):
        queue.create_queue()
    return queue


def drain(queue: QueueClient) -> list[dict[str, object]]:
    found = []
    for message in queue.receive_messages(max_messages=32, visibility_timeout=30):
        found.append(json.loads(base64.b64decode(message.content)))
        queue.delete_message(message)
    return found


def test_health_reports_storage_reachable(served: str) -> None:
    answer = requests.get(f"{served}/api/health", timeout=5)
    assert answer.status_code == 200
    report = answer.json()
    assert report["status"] == "ok"
    assert report["storage"] == {"queues": "ok", "tables": "ok"}
    assert report["routing"] == "ok"  # serve's stand-in receivers when FOREWARN_CONFIG is unset


def test_posted_alert_lands_on_the_events_queue(served: str, azurite: Azurite) -> None:
    drain(events_queue(azurite))
    answer = requests.post(
        f"{served}/api/alerts?code={KEY}",
        data=MAINTENANCE,
        headers={"Content-Type": "application/json"},
        timeout=5,
    )
    assert answer.status_code == 202
    messages = drain(events_queue(azurite))
    assert [m["id"] for m in messages] == [answer.json()["event_id"]]
    body = messages[0]["body"]
    assert isinstance(body, dict)
    assert body["kind"] == "service_health" and body["stage"] == "Planned"


@pytest.mark.parametrize(
    ("query", "headers", "status"),
    [
        ("", {}, 401),
        ("?code=wrong", {}, 401),
        ("", {"x-functions-key": KEY}, 202),
    ],
    ids=["no key", "wrong key", "key in header"],
)
def test_function_key_is_required(
    served: str, query: str, headers: dict[str, str], status: int
) -> None:
    answer = requests.post(
        f"{served}/api/alerts{query}",
        data=MAINTENANCE,
        headers={"Content-Type": "application/json", **headers},
        timeout=5,
    )
    assert answer.status_code == status


def test_bad_input_never_gets_a_5xx_over_http(served: str) -> None:
    samples = [
        b"",
        b"null",
        b"{}",
        b"[]",
        json.dumps(load_fixture("arm-vm-instanceview-example-2024-07-01.json")).encode(),
    ]
    for body in samples:
        answer = requests.post(
            f"{served}/api/alerts?code={KEY}",
            data=body,
            headers={"Content-Type": "application/json"},
            timeout=5,
        )
        assert answer.status_code == 400, body
        assert "Traceback" not in answer.text


def test_unreachable_storage_answers_503_within_five_seconds() -> None:
    """The Action Group retries a 503; it must get one well before its own timeout."""
    port = closed_port()
    with serve_process(azurite_connection_string(port, port, port), KEY) as base:
        started = time.monotonic()
        answer = requests.post(
            f"{base}/api/alerts?code={KEY}",
            data=MAINTENANCE,
            headers={"Content-Type": "application/json"},
            timeout=30,
        )
        elapsed = time.monotonic() - started
    assert answer.status_code == 503
    assert answer.json()["error"] == "storage_unavailable"
    assert elapsed < 5.0
