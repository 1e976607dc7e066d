"""The Scheduled Events forwarder against the IMDS stand-in and a signed-post receiver.

Each test drives the forwarder's real loop one round at a time (``step``), over real HTTP on
127.0.0.1; a restart is a new forwarder on the same state file, as systemd would start it.

GIVEN in IMDS                        WHEN the forwarder polls     THEN the app receives
a new Reboot (Scheduled)             once                         one 'new' post, all 9 fields
the same document again              again                        nothing more
the event Started                    once                         one 'changed' post
the event gone                       once                         one 'vanished' post
Microsoft's Freeze sequence (1..4)   after each document          new, changed, vanished
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from forwarder.agent import Forwarder
from forwarder.config import Settings
from forwarder.imds import EVENT_FIELDS
from shared.standins.imds_server import ImdsStandIn
from shared.standins.stand_in import Answer, Recorded, StandIn

pytestmark = pytest.mark.integration

KEY = "scheduled-events-key-0001"


class Receiver(StandIn):
    """Takes signed posts as the app does; keeps what it took (by key, to see duplicates)."""

    name = "receiver"

    def __init__(self) -> None:
        super().__init__()
        self.posts: list[dict[str, Any]] = []
        self.refused = 0

    def answer(self, request: Recorded) -> Answer:
        timestamp = request.headers.get("X-Forewarn-Timestamp", "")
        expected = hmac.new(
            KEY.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
        ).hexdigest()
        if request.headers.get("X-Forewarn-Signature") != f"v1={expected}":
            self.refused += 1
            return Answer.json(401, {"error": "bad signature"})
        self.posts.append(request.json())
        return Answer.json(202, {"accepted": True})

    def seen(self) -> list[tuple[str, str, str]]:
        return [
            (post["change"], post["event"]["EventId"], post["event"]["EventStatus"])
            for post in self.posts
        ]


@pytest.fixture
def imds() -> Iterator[ImdsStandIn]:
    with ImdsStandIn(vm_name="sql-01") as stand_in:
        yield stand_in


@pytest.fixture
def app() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


def settings(imds: ImdsStandIn, app: Receiver, tmp_path: Path, **more: Any) -> Settings:
    return Settings(
        app_url=app.base_url,
        key=KEY,
        imds_url=imds.base_url,
        state_file=tmp_path / "state.json",
        poll_seconds=0.05,
        max_backoff=0.2,
        **more,
    )


def test_new_changed_and_vanished_events_are_each_posted_once(
    imds: ImdsStandIn, app: Receiver, tmp_path: Path
) -> None:
    forwarder = Forwarder(settings(imds, app, tmp_path))
    forwarder.step()
    assert app.posts == []  # nothing scheduled yet

    event_id = imds.schedule("Reboot", minutes=15)
    forwarder.step()
    forwarder.step()  # the same incarnation again
    imds.begin(event_id)
    forwarder.step()
    imds.finish(event_id)
    forwarder.step()

    assert app.seen() == [
        ("new", event_id, "Scheduled"),
        ("changed", event_id, "Started"),
        ("vanished", event_id, "Started"),
    ]
    first = app.posts[0]
    assert set(first["event"]) == set(EVENT_FIELDS)
    assert first["event"]["EventType"] == "Reboot"
    assert first["event"]["NotBefore"].endswith(" GMT")
    assert first["vm"]["name"] == "sql-01"
    assert first["vm"]["location"] == "eastus"  # IMDS compute.location: the region, for the app
    assert first["vm"]["resourceId"].endswith("/virtualMachines/sql-01")
    assert [post["incarnation"] for post in app.posts] == [2, 3, 4]


def test_microsofts_freeze_sequence_and_its_replay(
    imds: ImdsStandIn, app: Receiver, tmp_path: Path
) -> None:
    forwarder = Forwarder(settings(imds, app, tmp_path))
    documents = ImdsStandIn.sample_documents()
    event = documents[1]["Events"][0]
    imds.put(event)
    forwarder.step()
    imds.change(event["EventId"], **documents[2]["Events"][0])
    forwarder.step()
    # An incarnation replayed (IMDS answering an older document's number with the same
    # content) brings nothing new.
    imds.incarnation -= 1
    forwarder.step()
    imds.incarnation += 1
    forwarder.step()
    imds.finish(event["EventId"])
    forwarder.step()

    assert app.seen() == [
        ("new", event["EventId"], "Scheduled"),
        ("changed", event["EventId"], "Started"),
        ("vanished", event["EventId"], "Started"),
    ]
    assert app.posts[0]["event"] == {name: event[name] for name in EVENT_FIELDS}


def test_a_restart_mid_event_neither_loses_nor_repeats(
    imds: ImdsStandIn, app: Receiver, tmp_path: Path
) -> None:
    app.script.always(None)
    first = Forwarder(settings(imds, app, tmp_path))
    event_id = imds.schedule("Redeploy", minutes=10)
    app.script.fail(1, status=503)  # the post of 'new' fails: it stays in the outbox
    first.step()
    assert app.posts == []
    imds.begin(event_id)
    del first  # stopped here, between polls, with 'new' unsent

    second = Forwarder(settings(imds, app, tmp_path))
    second.step()
    second.step()
    third = Forwarder(settings(imds, app, tmp_path))  # and again, with nothing pending
    third.step()

    assert app.seen() == [("new", event_id, "Scheduled"), ("changed", event_id, "Started")]


def test_the_app_down_then_back_gets_every_post_in_order(
    imds: ImdsStandIn, app: Receiver, tmp_path: Path
) -> None:
    forwarder = Forwarder(settings(imds, app, tmp_path))
    event_id = imds.schedule("Reboot")
    app.script.fail(3, status=503)
    deadline = time.monotonic() + 10
    forwarder.step()
    imds.begin(event_id)
    while len(app.posts) < 2 and time.monotonic() < deadline:
        forwarder.step()
        time.sleep(0.05)

    assert app.seen() == [("new", event_id, "Scheduled"), ("changed", event_id, "Started")]
    assert sum(1 for request in app.requests if request.answered == 503) == 3


def test_a_wrong_key_is_refused_and_retried_not_dropped(
    imds: ImdsStandIn, app: Receiver, tmp_path: Path
) -> None:
    wrong = Forwarder(
        Settings(
            app_url=app.base_url,
            key="not-the-deployment-key",
            imds_url=imds.base_url,
            state_file=tmp_path / "state.json",
            poll_seconds=0.05,
        )
    )
    imds.schedule("Freeze", minutes=15)
    wrong.step()
    assert app.refused == 1 and app.posts == []
    fixed = Forwarder(settings(imds, app, tmp_path))  # the key put right, the service restarted
    fixed.step()
    assert [change for change, _, _ in app.seen()] == ["new"]


@pytest.mark.parametrize(
    ("command", "approved", "outcome"),
    [
        (["true"], True, {"succeeded": True, "exitCode": 0, "approved": True}),
        (["false"], False, {"succeeded": False, "exitCode": 1, "approved": False}),
        (["/nonexistent/drain"], False, {"succeeded": False, "exitCode": None, "approved": False}),
    ],
    ids=["drain succeeds", "drain fails", "drain missing"],
)
def test_approval_follows_only_a_successful_drain(
    imds: ImdsStandIn,
    app: Receiver,
    tmp_path: Path,
    command: list[str],
    approved: bool,
    outcome: dict[str, Any],
) -> None:
    forwarder = Forwarder(settings(imds, app, tmp_path, drain_command=tuple(command)))
    event_id = imds.schedule("Reboot")
    forwarder.step()
    forwarder.step()  # a drain runs once per event, whatever its outcome

    assert imds.approvals == ([event_id] if approved else [])
    drained = [post for post in app.posts if post["change"] == "drained"]
    assert len(drained) == 1
    assert {key: drained[0]["drain"][key] for key in outcome} == outcome
    # The app heard of the event before the drain started.
    assert app.posts[0]["change"] == "new"
    if approved:  # on Azure an approval starts the event, and the forwarder sees it
        assert ("changed", event_id, "Started") in app.seen()


@pytest.mark.parametrize(
    ("command", "reported"),
    [(("true",), True), (("false",), True), ((), False)],
    ids=["drained and approved", "drain failed", "no drain command"],
)
def test_later_posts_say_whether_a_drain_was_reported_before_them(
    imds: ImdsStandIn, app: Receiver, tmp_path: Path, command: tuple[str, ...], reported: bool
) -> None:
    """The app orders an event's messages by it (Started after the drain's outcome)."""
    forwarder = Forwarder(settings(imds, app, tmp_path, drain_command=command))
    event_id = imds.schedule("Reboot")
    forwarder.step()  # new, then the drain (when there is a command) and its outcome
    imds.begin(event_id)
    forwarder.step()
    imds.finish(event_id)
    forwarder.step()

    later = {post["change"]: post for post in app.posts if post["change"] != "drained"}
    assert later["new"]["drainReported"] is False
    assert later["changed"]["drainReported"] is reported
    assert later["vanished"]["drainReported"] is reported


def test_state_on_disk_is_plain_json(imds: ImdsStandIn, app: Receiver, tmp_path: Path) -> None:
    forwarder = Forwarder(settings(imds, app, tmp_path))
    event_id = imds.schedule("Reboot")
    forwarder.step()
    state = json.loads((tmp_path / "state.json").read_text())
    assert list(state["known"]) == [event_id] and state["outbox"] == []


def test_the_process_killed_mid_event_resumes_from_its_state_file(
    imds: ImdsStandIn, app: Receiver, tmp_path: Path
) -> None:
    """``python3 -m forwarder`` as systemd runs it, killed (SIGKILL) and started again."""
    import os
    import signal
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(root),
        "FOREWARN_FORWARDER_APP_URL": app.base_url,
        "FOREWARN_FORWARDER_KEY": KEY,
        "FOREWARN_FORWARDER_IMDS_URL": imds.base_url,
        "FOREWARN_FORWARDER_STATE": str(tmp_path / "state.json"),
        "FOREWARN_FORWARDER_POLL_SECONDS": "0.05",
    }

    state_file = tmp_path / "state.json"

    def outbox_empty() -> bool:
        try:
            return json.loads(state_file.read_text()).get("outbox") == []
        except (OSError, ValueError):
            return False  # not written yet

    def run_until(count: int) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-m", "forwarder"], env=env, cwd=tmp_path)
        deadline = time.monotonic() + 20
        # Killed between events, not between the app's 202 and the state file's save: a kill
        # inside that window sends the post once more, and the app drops it by its key
        # (forwarder/state.py); this test is about what the forwarder itself remembers.
        while (len(app.posts) < count or not outbox_empty()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return process

    event_id = imds.schedule("Reboot")
    first = run_until(1)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    imds.begin(event_id)  # while nothing runs
    second = run_until(2)
    imds.finish(event_id)
    deadline = time.monotonic() + 20
    while len(app.posts) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    second.send_signal(signal.SIGTERM)
    assert second.wait(timeout=10) == 0

    assert app.seen() == [
        ("new", event_id, "Scheduled"),
        ("changed", event_id, "Started"),
        ("vanished", event_id, "Started"),
    ]


def test_a_missing_setting_stops_the_process_with_a_message(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-m", "forwarder"],
        env={"PYTHONPATH": str(root), "FOREWARN_FORWARDER_APP_URL": "https://app.example"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "FOREWARN_FORWARDER_KEY" in result.stderr
