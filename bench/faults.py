"""A fault campaign against `forewarn serve`: nothing lost, nothing sent twice, quick recovery.

    python -m bench.faults [--quick] [--only NAME,NAME]

Scenarios by name: baseline, refusal, 429, 500, hang, kill, storage, reposts-webhook (the
webhook-only campaign below) and storage-120s, kill-multi, reposts (issue 20: every channel,
``bench/faults_once.py``). ``--only`` runs the named ones; the full campaign takes ~15 min.

`forewarn serve` runs as a subprocess (as a user starts it) on an Azurite whose data lives in
a temporary directory, so that Azurite can be stopped and started again without losing
messages. Enrichment reads a stand-in ARM; every alert goes to one webhook receiver (the
stand-in keeps one delivery per Idempotency-Key and counts repeats). Each scenario posts new
alerts (as an Action Group does: a 503 is retried), makes the receiver, the host or storage
misbehave, recovers, and waits until every alert was delivered. One row per scenario:

    posted, expected, delivered once, duplicated (same key / other key), missing,
    dead-lettered, seconds from recovery to the last delivery

Goals: 0 missing; 0 duplicates except across a SIGKILL (and those with the same key);
drain within 120 s of recovery. The retry schedule is production's (30 s, then 2 min);
--quick shortens the outages (receiver refusal 20 s instead of 90 s, storage 10 s instead
of 30 s) but not the schedule. Traffic stays on 127.0.0.1; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from bench import faults_once
from shared import names
from shared.devhost.azurite import Azurite, free_port
from shared.models import ChannelName
from shared.standins.arm_server import ArmStandIn
from shared.standins.local_stack import CHANNEL_ORDER, demo_fleet, routing_for, sample_alert
from shared.standins.loganalytics_server import LogAnalyticsStandIn
from shared.standins.sinks import LocalSinks
from shared.standins.stand_in import Failure

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-faults-key"
DRAIN_GOAL_SECONDS = 120.0
SENDER_TIMEOUT_SECONDS = 5.0


@dataclass
class Row:
    name: str
    posted: int
    expected: int
    once: int
    same_key: int
    other_key: int
    missing: int
    dead: int
    drain_seconds: float | None


class Campaign:
    def __init__(self, workdir: Path, channels: tuple[ChannelName, ...] = ("webhook",)) -> None:
        self.workdir = workdir
        self.channels = channels
        self.key = KEY
        self.sinks = LocalSinks(timeout_seconds=SENDER_TIMEOUT_SECONDS)
        self.arm = ArmStandIn(demo_fleet())
        # The Activity Log as Azure also writes it, for the catch-up of refused alerts.
        self.workspace: LogAnalyticsStandIn | None = LogAnalyticsStandIn()
        self.azurite: Azurite | None = None
        self.serve: subprocess.Popen[bytes] | None = None
        self.port = free_port()

    # ---- parts -------------------------------------------------------------------------
    @contextlib.contextmanager
    def running(self) -> Iterator[Campaign]:
        assert self.workspace is not None
        with self.sinks, self.arm, self.workspace:
            self.azurite = Azurite.start(location=self.workdir / "azurite")
            config = self.workdir / "routing.yaml"
            config.write_text(yaml.safe_dump(routing_for(self.sinks, self.channels)), "utf-8")
            self.environ = {
                **os.environ,
                names.STORAGE_CONNECTION: self.azurite.connection_string,
                names.SETTING_ALERTS_KEY: KEY,
                names.SETTING_CONFIG: str(config),
                names.SETTING_ARM_ENDPOINT: self.arm.base_url,
                names.SETTING_ARM_TOKEN: self.arm.token,
                # Drain times measure recovery from faults, not the route stage's wait for a
                # wave's other notices (60 s by default); each alert here is its own wave.
                names.SETTING_GROUP_WAIT_SECONDS: "0",
                names.SETTING_LOG_ANALYTICS_WORKSPACE_ID: self.workspace.workspace_id,
                names.SETTING_LOG_ANALYTICS_ENDPOINT: self.workspace.base_url,
                **self.sinks.environ,
            }
            try:
                self.start_serve()
                yield self
            finally:
                self.stop_serve(signal.SIGTERM)
                self.azurite.stop()

    def start_serve(self) -> None:
        log = (self.workdir / "serve.log").open("ab")
        command = [
            sys.executable, "-m", "shared.cli", "serve", "--port", str(self.port),
            "--settings", str(self.workdir / "none.json"), "--no-timers",
        ]  # fmt: skip
        self.serve = subprocess.Popen(command, cwd=ROOT, env=self.environ, stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                requests.get(f"{self.base}/api/health", timeout=2)
                return
            time.sleep(0.2)
        raise RuntimeError("forewarn serve did not answer within 30 s")

    def stop_serve(self, how: signal.Signals) -> None:
        if self.serve is not None and self.serve.poll() is None:
            self.serve.send_signal(how)
            self.serve.wait(timeout=20)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- traffic -----------------------------------------------------------------------
    def post(self, alert: dict[str, Any], *, within: float = 180.0) -> str:
        """POST like an Action Group: retry a 503 or a refused connection (every 2 s here)."""
        deadline = time.monotonic() + within
        body = json.dumps(alert).encode("utf-8")
        while time.monotonic() < deadline:
            with contextlib.suppress(requests.RequestException):
                answer = requests.post(
                    f"{self.base}/api/alerts?code={KEY}",
                    data=body,
                    headers={"Content-Type": "application/json"},
                    timeout=10,
                )
                if answer.status_code == 202:
                    return str(answer.json()["event_id"])
                if answer.status_code != 503:
                    raise RuntimeError(f"POST answered {answer.status_code}: {answer.text}")
            time.sleep(2)
        raise RuntimeError("the alert was not accepted in time")

    def delivered(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for delivery in list(self.sinks.webhook.deliveries):
            event_id = str(delivery.document.get("event_id"))
            counts[event_id] = counts.get(event_id, 0) + 1
        return counts

    def dead_letters(self, events: set[str]) -> int:
        from shared.delivery.deadletters import list_dead_letters
        from shared.storage import StorageServices

        storage = StorageServices.from_settings(self.environ)
        return sum(1 for letter in list_dead_letters(storage) if letter.job.event_id in events)

    def wait_for(self, events: set[str], seconds: float) -> float | None:
        """Monotonic time of the moment every event was delivered, or None after ``seconds``."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if events <= set(self.delivered()):
                return time.monotonic()
            time.sleep(0.2)
        return None

    # ---- one scenario ------------------------------------------------------------------
    def scenario(
        self,
        name: str,
        alerts: int,
        *,
        before: Callable[[], object] = lambda: None,
        during: Callable[[], None] = lambda: None,
        recover: Callable[[], None] = lambda: None,
        copies: int = 1,
        settle: float = 10.0,
    ) -> Row:
        self.sinks.reset()
        before()
        events: set[str] = set()
        for _ in range(alerts):
            alert = sample_alert(communication_id=uuid.uuid4().hex)
            for _ in range(copies):
                events.add(self.post(alert))
        during()
        recover()
        recovered = time.monotonic()
        done = self.wait_for(events, DRAIN_GOAL_SECONDS + 180)
        time.sleep(settle)  # a late duplicate would show up here
        counts = self.delivered()
        return Row(
            name,
            posted=alerts * copies,
            expected=len(events),
            once=sum(1 for event in events if counts.get(event) == 1),
            same_key=self.sinks.webhook.repeats,
            other_key=sum(max(counts.get(event, 0) - 1, 0) for event in events),
            missing=sum(1 for event in events if event not in counts),
            dead=self.dead_letters(events),
            drain_seconds=None if done is None else max(done - recovered, 0.0),
        )


WEBHOOK_SCENARIOS = (
    "baseline",
    "refusal",
    "429",
    "500",
    "hang",
    "kill",
    "storage",
    "reposts-webhook",
)
ONCE_SCENARIOS = ("storage-120s", "kill-multi", "reposts")


def chosen(argv: list[str]) -> set[str]:
    if "--only" not in argv:
        return set(WEBHOOK_SCENARIOS + ONCE_SCENARIOS)
    names_given = set(argv[argv.index("--only") + 1].split(","))
    unknown = names_given - set(WEBHOOK_SCENARIOS + ONCE_SCENARIOS)
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    return names_given


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    wanted = chosen(argv)
    refusal = 20.0 if quick else 90.0
    outage = 10.0 if quick else 30.0
    alerts = 3 if quick else 5
    rows: list[Row] = []
    once_rows: list[faults_once.OnceRow] = []
    if wanted & set(WEBHOOK_SCENARIOS):
        with tempfile.TemporaryDirectory(prefix="forewarn-faults-") as workdir:
            rows = webhook_campaign(Path(workdir), wanted, quick, refusal, outage, alerts)
    if wanted & set(ONCE_SCENARIOS):
        with tempfile.TemporaryDirectory(prefix="forewarn-faults-once-") as workdir:
            once_rows = once_campaign(Path(workdir), wanted, alerts)
    if rows:
        report(rows, quick)
    if once_rows:
        faults_once.report(once_rows)
    bad = [r for r in rows if r.missing or r.drain_seconds is None]
    bad_once = [r for r in once_rows if r.missing]
    return 1 if bad or bad_once else 0


def once_campaign(workdir: Path, wanted: set[str], alerts: int) -> list[faults_once.OnceRow]:
    rows = []
    with Campaign(workdir, CHANNEL_ORDER).running() as c:
        if "reposts" in wanted:
            rows.append(faults_once.identical_reposts(c, alerts, 5))
        if "storage-120s" in wanted:
            rows.append(faults_once.storage_down_after_burst(c, alerts, 120.0))
        if "kill-multi" in wanted:
            rows.append(faults_once.kill_with_targets_in_flight(c, alerts))
    return rows


def webhook_campaign(
    workdir: Path, wanted: set[str], quick: bool, refusal: float, outage: float, alerts: int
) -> list[Row]:
    rows: list[Row] = []
    with Campaign(workdir).running() as c:
        script = c.sinks.webhook.script

        def crash() -> None:
            deadline = time.monotonic() + 30
            while not c.sinks.webhook.requests and time.monotonic() < deadline:
                time.sleep(0.05)
            c.stop_serve(signal.SIGKILL)

        def storage_outage() -> None:
            assert c.azurite is not None
            c.azurite.kill()
            time.sleep(outage)
            c.azurite.restart()

        scenarios: dict[str, Callable[[], Row]] = {
            "baseline": lambda: c.scenario("baseline", alerts),
            "refusal": lambda: c.scenario(
                f"receiver answers 503 for {refusal:.0f} s",
                alerts,
                before=lambda: script.always(Failure(status=503)),
                during=lambda: time.sleep(refusal),
                recover=script.clear,
            ),
            "429": lambda: c.scenario(
                "429 storm, Retry-After 5 s then 60 s",
                alerts,
                before=lambda: (
                    script.fail(alerts, 429, retry_after="5"),
                    script.fail(alerts, 429, retry_after="60"),
                ),
            ),
            "500": lambda: c.scenario(
                "500 twice, then OK", alerts, before=lambda: script.fail(2, 500)
            ),
            "hang": lambda: c.scenario(
                "receiver hangs past the sender timeout",
                alerts,
                before=lambda: script.hang(SENDER_TIMEOUT_SECONDS + 3, times=2),
            ),
            "kill": lambda: c.scenario(
                "SIGKILL of serve mid-delivery, restart",
                alerts,
                before=lambda: script.hang(3, times=alerts),
                during=crash,
                recover=c.start_serve,
                # the killed sends come back after a 30 s message lease, a 60 s claim and its
                # 30 s second look: wait for them, or their duplicates would go uncounted
                settle=130.0,
            ),
            "storage": lambda: c.scenario(
                f"Azurite stopped {outage:.0f} s mid-delivery",
                alerts,
                before=lambda: script.hang(2, times=alerts),
                during=storage_outage,
            ),
            "reposts-webhook": lambda: c.scenario("each alert posted 3 times", alerts, copies=3),
        }
        for name in WEBHOOK_SCENARIOS:
            if name in wanted:
                rows.append(scenarios[name]())
    return rows


def report(rows: list[Row], quick: bool) -> None:
    print(
        f"fault campaign on forewarn serve + Azurite ({'quick' if quick else 'full'}); "
        "one webhook receiver; retry schedule as in production (30 s, 2 min, ...)"
    )
    header = (
        f"{'scenario':44} {'posted':>6} {'expect':>6} {'once':>5} {'dup=key':>7} "
        f"{'dup!=key':>8} {'missing':>7} {'dead':>5} {'drain s':>8}"
    )
    print(header)
    for r in rows:
        drain = "-" if r.drain_seconds is None else f"{r.drain_seconds:.1f}"
        print(
            f"{r.name:44} {r.posted:>6} {r.expected:>6} {r.once:>5} {r.same_key:>7} "
            f"{r.other_key:>8} {r.missing:>7} {r.dead:>5} {drain:>8}"
        )
    worst = max((r.drain_seconds or 0.0) for r in rows)
    print(
        f"missing {sum(r.missing for r in rows)} (goal 0); duplicates with another key "
        f"{sum(r.other_key for r in rows)} (goal 0); longest drain after recovery "
        f"{worst:.1f} s (goal <= {DRAIN_GOAL_SECONDS:.0f} s)"
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
