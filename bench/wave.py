"""A 21-day maintenance wave on a fake clock, followed by the sweep and reminder timers.

    python -m bench.wave [--quick]

The stand-in ARM (real HTTP on 127.0.0.1, Azure's published token buckets) holds 200 VMs over
3 subscriptions (``--quick``: 60). At day 0 Azure's notice arrives for each subscription and is
enriched and routed; then, on the fake clock, 10 % of the VMs are created mid-wave, some are
maintained by their owners, some deallocated and rescheduled, some deleted, and Azure maintains
the rest when their scheduled window opens. The sweep runs every 6 hours and the reminders
every hour, exactly as the timers call them; every event they queue goes through the route
stage's grouping and renderers (in process) to the routing file's receivers.

Prints per receiver:
  told >= 72 h   VMs whose windows reached the receiver at least 72 h before the self-service
                 window closed, of those whose maintenance was visible early enough for that
                 (72 h plus one sweep interval before the close) — goal 100 %
  added          VMs created mid-wave announced within one sweep interval — goal 100 %
  reminders done reminders about a VM already maintained or deleted — goal 0
  duplicates     the same thing about the same VM told twice — goal 0
and per sweep: ARM requests (most and mean), the most ARM reads one subscription needed in one
sweep against that subscription's read bucket (250, refilled 25/s: what a sweep can spend
without waiting), and 429s received (goal 0). Then what the messages say:
  truth oracle   statements in any message, any channel, that its records contradict
                 (tests/support/truth_oracle.py: nothing to do for a pending self-service VM,
                 "over" while a VM is open, a done VM with a reboot, a moment no record holds,
                 a recovered notice without its line) — goal 0
  advice         reminders whose VM's advice differs from the first notice's — goal 0
  owners         half of the VMs advised to start themselves claimed at random moments for
                 their team (bench/wave_owners.py): reminders to non-owners of claimed VMs —
                 goal 0 — and the reminders ownership kept from non-owners
  escalations    every team escalates to a PagerDuty receiver 24 h before a self-service
                 window closes (bench/wave_escalations.py): escalations for VMs claimed or
                 done when sent — goal 0 — and missed for unclaimed pending VMs — goal 0

Timers are hours apart; the buckets refill fully in under 3 minutes. Real time between passes
is milliseconds, so before each pass both the client's and the stand-in's buckets are set full,
as hours of fake time would leave them.
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bench.wave_escalations import BEFORE, PAGER, Escalations
from bench.wave_owners import Owners
from bench.wave_world import START, World, apply, azure_maintains, build_world
from shared import names
from shared.enrich.arm import ArmClient
from shared.enrich.arm_tokens import StaticTokenProvider
from shared.enrich.instance_view import InMemoryInstanceViewCache, InstanceViewReader
from shared.enrich.pacing import Pacer, PacingLimits
from shared.enrich.services import EnrichmentServices
from shared.enrich.stage import EnrichStage
from shared.models import EnrichedEvent
from shared.routing.config import parse_config
from shared.routing.grouping import group_event
from shared.standins.arm_fleet import maintenance_event
from shared.standins.arm_server import ArmStandIn
from shared.storage import Envelope, InMemoryQueuePublisher, StorageServices
from shared.timeutil import parse_utc
from shared.wave.claims import ClaimStore
from shared.wave.records import InMemoryRecordStore, MaintenanceRecord
from shared.wave.reminders import ReminderOffsets
from shared.wave.runner import WaveRunner
from tests.support.truth_oracle import Contradiction, judge
from tests.support.wave_harness import messages_of

SEED = 12
DAYS = 21
SWEEP_EVERY = timedelta(hours=6)
REMIND_EVERY = timedelta(hours=1)
TRACKING = "WAVE-BENCH"
TOLD_BEFORE = timedelta(hours=72)
ARM_READ_CAPACITY = PacingLimits().arm_reads.capacity


def routing(subscriptions: list[str]) -> str:
    teams = "\n".join(
        f"""  - name: team-{index}
    type: email
    targets: [team-{index}@example.com]
    options: {{from: forewarn@example.com, smtp_host: smtp.example.com}}
    escalate: {{to: {PAGER}, before: {BEFORE}}}"""
        for index in range(len(subscriptions))
    )
    routes = "\n".join(
        f"""    - name: sub-{index}
      match: {{subscriptions: ["{subscription}"]}}
      receivers: [team-{index}]"""
        for index, subscription in enumerate(subscriptions)
    )
    return f"""version: 1
receivers:
{teams}
  - name: cmdb
    type: webhook
    targets: [https://cmdb.example.com/hook]
    options: {{secret_setting: FOREWARN_WEBHOOK_SIGNING_SECRET}}
  - name: {PAGER}
    type: pagerduty
    options: {{routing_key_setting: FOREWARN_PAGERDUTY_ROUTING_KEY}}
route:
  receivers: [cmdb]
  routes:
    - name: everything-to-cmdb
      receivers: [cmdb]
      continue: true
{routes}
"""


@dataclass
class Told:
    at: datetime
    kind: str
    windows: tuple[str | None, ...]


class Audience:
    """Every message each receiver got, per VM, as the route stage would send it."""

    def __init__(self, config: Any, records: InMemoryRecordStore) -> None:
        self.config = config
        self.records = records
        # The records as the pass that is being drained found them (the oracle's "before").
        self.before: dict[str, MaintenanceRecord] = {}
        self.contradictions: list[Contradiction] = []
        self.messages = 0
        self.first_advice: dict[str, str] = {}  # vm id -> advice of its first notice
        self.advice_changed: set[tuple[str, str]] = set()  # (vm id, reminder event id)
        self.told: dict[tuple[str, str], list[Told]] = defaultdict(list)
        self.job_ids: set[str] = set()
        self.redelivered = 0
        self.render_failures = 0
        self.reminders_done = Counter[str]()
        self.duplicates = Counter[str]()
        self.owners: Owners | None = None  # judges each reminder against the claims in force
        self.escalations: Escalations | None = None  # judges each escalation likewise

    def route(self, enriched: EnrichedEvent, now: datetime, world: World) -> None:
        records = {record.vm_id.lower(): record for record in self.records.all()}
        ownership = self.owners.claims.ownership() if self.owners is not None else None
        sent, failures = messages_of(enriched, self.config, now, records, self.before, ownership)
        self.render_failures += len(failures)
        # What every message says, against the records (tests/support/truth_oracle.py).
        self.messages += len(sent)
        self.contradictions += judge(sent)
        operation = enriched.event.operation_name or ""
        kind = (
            # forewarn/wave/<kind>, a reminder followed by its offset
            operation.split("/")[2] if operation.startswith("forewarn/wave/") else "announced"
        )
        for vm in enriched.vms:
            key = vm.id.lower()
            if kind in ("announced", "vm_added"):
                self.first_advice.setdefault(key, vm.advice.action)
            elif kind == "reminder" and self.first_advice.get(key, vm.advice.action) != (
                vm.advice.action
            ):
                self.advice_changed.add((key, enriched.event.event_id))
        label = enriched.event.title if kind == "reminder" else ""
        if kind == "reminder" and self.owners is not None:
            self.owners.judge(enriched, self.config, now)
        if kind.startswith("escalation") and self.escalations is not None:
            self.escalations.judge(enriched, self.config, now, world)
        for group in group_event(enriched, self.config, now):
            job_id = f"{enriched.event.event_id}:{group.receiver.name}"
            if job_id in self.job_ids:
                self.redelivered += 1  # delivery's idempotency record drops it
                continue
            self.job_ids.add(job_id)
            for vm in group.vms:
                status = vm.maintenance
                shown = (
                    label,
                    *(
                        (status.self_service_window.end, status.scheduled_window.start)
                        if status
                        else (None, None)
                    ),
                )
                told = self.told[(group.receiver.name, vm.id.lower())]
                if any(t.kind == kind and t.windows == shown for t in told):
                    self.duplicates[group.receiver.name] += 1
                told.append(Told(now, kind, shown))
                truth = world.truths[vm.id.lower()]
                if kind == "reminder" and truth.finished(now):
                    self.reminders_done[group.receiver.name] += 1


def drain(
    queues: InMemoryQueuePublisher,
    storage: StorageServices,
    audience: Audience,
    world: World,
    now: datetime,
) -> None:
    for text in list(queues.drain("enriched")):
        envelope = storage.courier.open(text)
        audience.route(EnrichedEvent.from_json(envelope.body), now, world)


def run(total: int) -> int:
    rng = random.Random(SEED)
    subscriptions = [str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(3)]
    world = build_world(subscriptions, total, rng)
    config = parse_config(routing(subscriptions))
    clock_now = [START]

    def clock() -> datetime:
        return clock_now[0]

    storage = StorageServices.in_memory()
    queues = storage.queues
    assert isinstance(queues, InMemoryQueuePublisher)
    records = InMemoryRecordStore()
    audience = Audience(config, records)
    claims = ClaimStore(storage.table(names.TABLE_CLAIMS))
    audience.owners = owners = Owners(claims, TRACKING)
    audience.escalations = escalations = Escalations(claims, TRACKING)
    owners.plan(world, {s: f"team-{i}" for i, s in enumerate(subscriptions)})
    sweeps: list[tuple[int, int]] = []  # (requests, most reads of one subscription)
    with ArmStandIn(world.fleet) as arm:
        client = ArmClient(arm.base_url, StaticTokenProvider(arm.token))
        reader = InstanceViewReader(client, InMemoryInstanceViewCache(), clock=clock)
        services = EnrichmentServices(client, reader, clock=clock)

        def refill() -> None:
            # Hours of fake time lie between passes: every bucket is full again.
            client.pacer = Pacer()
            arm._buckets.clear()  # the stand-in's own buckets (see the module docstring)

        runner = WaveRunner(services, records, config, storage.courier, claims=claims)
        stage = EnrichStage(storage, services, records)
        started = time.perf_counter()
        for subscription in subscriptions:  # day 0: Azure's notice, one per subscription
            event = maintenance_event([subscription], tracking_id=TRACKING)
            storage.courier.send("events", Envelope("event", event.event_id, event.to_json()))
            refill()
            stage.handle(queues.messages["events"].popleft(), dequeue_count=1)
        drain(queues, storage, audience, world, START)
        ticks: list[tuple[datetime, int, str, Any]] = list(world.actions)
        moment = START
        while moment <= START + timedelta(days=DAYS):
            if moment > START and (moment - START) % SWEEP_EVERY == timedelta(0):
                ticks.append((moment, 10**9, "sweep", ()))
            ticks.append((moment + timedelta(minutes=30), 10**9, "remind", ()))
            moment += REMIND_EVERY
        ticks.sort(key=lambda tick: (tick[0], tick[1]))
        for when, _, what, args in ticks:
            if when > START + timedelta(days=DAYS):
                break
            clock_now[0] = when
            azure_maintains(world, when)
            if what == "claim":
                owners.claim(args, records, when)
                continue
            if what in ("create", "owner", "move", "delete"):
                apply(world, what, args, when)
                continue
            refill()
            audience.before = {record.vm_id.lower(): record for record in records.all()}
            if what == "sweep":
                before = Counter(arm.counts)
                report = runner.sweep(subscriptions, when)
                reads = Counter(arm.counts) - before
                per_subscription = max(
                    sum(n for key, n in reads.items() if key.endswith(s)) for s in subscriptions
                )
                sweeps.append((report.arm_requests, per_subscription))
            else:
                runner.remind(when, ReminderOffsets())
            drain(queues, storage, audience, world, when)
            if what == "remind":
                escalations.check(records, when)
        wall = time.perf_counter() - started
        throttled = arm.counts["429"]
    met = print_figures(world, audience, sweeps, throttled, wall, config)
    # Advised to start itself when first told (a record's advice changes once it is done).
    self_serve = sum(advice == "self_service" for advice in audience.first_advice.values())
    print(owners.figures(self_serve))
    print(escalations.figures())
    return 0 if met and owners.to_non_owners == 0 and escalations.met else 1


def print_figures(
    world: World,
    audience: Audience,
    sweeps: list[tuple[int, int]],
    throttled: int,
    wall: float,
    config: Any,
) -> bool:
    """Print the figures; True when every goal is met."""
    truths = list(world.truths.values())
    print(
        f"{len(truths)} VMs, {sum(t.mid_wave for t in truths)} created mid-wave, "
        f"{sum(t.deleted_at is not None for t in truths)} deleted, "
        f"{DAYS} days, sweep every {SWEEP_EVERY}, reminders every {REMIND_EVERY}; "
        f"{wall:.1f} s wall"
    )
    header = (
        f"{'receiver':<10} {'told >= 72 h':>14} {'added <= 6 h':>12} "
        f"{'reminders done':>15} {'duplicates':>11}"
    )
    print(header)
    order = {s: i for i, s in enumerate(world.subscriptions)}
    kinds: Counter[str] = Counter()
    met = throttled == 0 and audience.render_failures == 0
    for receiver in config.receivers:
        early = in_time = added = added_in_time = 0
        for truth in truths:
            if receiver not in ("cmdb", f"team-{order[truth.vm.subscription_id]}"):
                continue  # not this receiver's VM
            told = audience.told.get((receiver, truth.vm.id.lower()), [])
            if receiver == "cmdb":
                kinds.update(t.kind for t in told)
            first = told[0] if told else None
            close = parse_utc(truth.first_close)
            if truth.mid_wave:
                added += 1
                added_in_time += first is not None and first.at - truth.visible_at <= SWEEP_EVERY
            elif close - truth.visible_at >= TOLD_BEFORE + SWEEP_EVERY:
                early += 1
                in_time += first is not None and first.at <= close - TOLD_BEFORE
        met &= in_time == early and added_in_time == added
        met &= audience.reminders_done[receiver] == 0 and audience.duplicates[receiver] == 0
        print(
            f"{receiver:<10} {in_time:>5}/{early:<4} {pct(in_time, early):>4} "
            f"{added_in_time:>3}/{added:<3} {pct(added_in_time, added):>4} "
            f"{audience.reminders_done[receiver]:>15} {audience.duplicates[receiver]:>11}"
        )
    print("messages to cmdb by kind: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    requests = [n for n, _ in sweeps]
    most_reads = max(m for _, m in sweeps)
    print(
        f"sweeps: {len(sweeps)}; ARM requests per sweep: most {max(requests)}, "
        f"mean {sum(requests) / len(requests):.0f}; most reads of one subscription in one sweep: "
        f"{most_reads} of a {ARM_READ_CAPACITY:.0f}-token bucket "
        f"({most_reads / ARM_READ_CAPACITY:.2f}); "
        f"429s: {throttled}"
    )
    print(
        f"re-enqueued jobs dropped by idempotency: {audience.redelivered}; "
        f"render failures: {audience.render_failures}"
    )
    found = audience.contradictions
    by_check = Counter(item.check for item in found)
    print(
        f"truth oracle: {len(found)} contradictions in {audience.messages} messages (goal 0)"
        + (
            ": " + ", ".join(f"{check} {n}" for check, n in sorted(by_check.items()))
            if found
            else ""
        )
    )
    for item in found[:3]:
        print(f"  e.g. {item}")
    print(
        f"reminders whose advice differs from the first notice's for that VM: "
        f"{len(audience.advice_changed)} (goal 0)"
    )
    return met and not found and not audience.advice_changed


def pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "-"


def main(argv: list[str]) -> int:
    return run(60 if "--quick" in argv else 200)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
