"""A wave followed in process on a fake clock: the stand-in ARM, in-memory storage, the enrich
stage, the sweep and reminder passes, and the route stage's real renderers for every channel.

Tests and the truth oracle drive it the way the timers would and read back every message each
receiver got, beside the records forewarn held when it was rendered.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from shared import names
from shared.enrich.arm import ArmClient
from shared.enrich.arm_tokens import StaticTokenProvider
from shared.enrich.instance_view import (
    InMemoryInstanceViewCache,
    InstanceViewCache,
    InstanceViewReader,
)
from shared.enrich.pacing import Pacer
from shared.enrich.services import EnrichmentServices
from shared.enrich.stage import EnrichStage
from shared.models import DeliveryJob, EnrichedEvent, MaintenanceEvent, VirtualMachine
from shared.routing.config import parse_config
from shared.routing.grouping import group_event
from shared.routing.rules import RoutingConfig
from shared.routing.stage import RenderFailure, route_receivers
from shared.scheduled import ScheduledEventPost, notice_of, parse_post
from shared.standins.arm_fleet import Fleet
from shared.standins.arm_server import ArmStandIn
from shared.storage import Envelope, InMemoryQueuePublisher, StorageServices
from shared.wave.actions import StartLinks
from shared.wave.claims import ClaimStore, Ownership
from shared.wave.records import InMemoryRecordStore, MaintenanceRecord
from shared.wave.reminders import ReminderOffsets
from shared.wave.report import PassReport
from shared.wave.runner import WaveRunner

# One receiver per channel, all taking every VM, in a zone other than UTC.
EVERY_CHANNEL = """\
version: 1
receivers:
  - name: mail
    type: email
    targets: [ops@example.com]
    timezone: Europe/Paris
    options: {from: forewarn@example.com, smtp_host: smtp.example.com}
  - name: phone
    type: sms
    targets: ["+15551234567"]
    timezone: Europe/Paris
    options: {account_sid: AC1, auth_token_setting: X_TOKEN, from: "+15005550006"}
  - {name: chat, type: slack, timezone: Europe/Paris, options: {webhook_url_setting: X_SLACK}}
  - {name: room, type: teams, timezone: Europe/Paris, options: {webhook_url_setting: X_TEAMS}}
  - name: hook
    type: webhook
    targets: ["https://example.com/hook"]
    options: {secret_setting: X_HOOK}
route:
  receivers: [mail, phone, chat, room, hook]
"""


START_LINKS = StartLinks("https://forewarn.example", "wave-harness-action-link-key")


@dataclass
class Sent:
    """One message as a receiver got it, and what forewarn knew when it was rendered."""

    at: datetime
    enriched: EnrichedEvent
    job: DeliveryJob
    records: dict[str, MaintenanceRecord]  # vm id (lower case) -> record after the pass
    vms: list[VirtualMachine] = field(default_factory=list)  # the receiver's VMs of the event
    # ids (lower case) of this receiver's VMs whose record is open in the event's wave
    open_vm_ids: set[str] = field(default_factory=set)
    # the records before the pass: what forewarn knew when it decided to send this
    before: dict[str, MaintenanceRecord] = field(default_factory=dict)
    # the claims in force when it was rendered (None: the harness kept none)
    ownership: Ownership | None = None


@dataclass
class WaveHarness:
    fleet: Fleet
    arm: ArmStandIn
    config: RoutingConfig
    now: datetime
    storage: StorageServices = field(default_factory=StorageServices.in_memory)
    records: InMemoryRecordStore = field(default_factory=InMemoryRecordStore)
    sent: list[Sent] = field(default_factory=list)
    # The instance-view cache: in memory unless a test gives the table one (Azurite).
    cache: InstanceViewCache = field(default_factory=InMemoryInstanceViewCache)

    def __post_init__(self) -> None:
        client = ArmClient(self.arm.base_url, StaticTokenProvider(self.arm.token))
        self.client = client
        reader = InstanceViewReader(client, self.cache, clock=self.clock)
        self.services = EnrichmentServices(client, reader, clock=self.clock)
        self.claims = ClaimStore(self.storage.table(names.TABLE_CLAIMS))
        self.runner = WaveRunner(
            self.services, self.records, self.config, self.storage.courier, claims=self.claims
        )
        self.stage = EnrichStage(self.storage, self.services, self.records)

    def clock(self) -> datetime:
        return self.now

    def _refill(self) -> None:
        # Fake hours lie between passes: every token bucket is full again.
        self.client.pacer = Pacer()
        self.arm._buckets.clear()

    def notice(self, event: MaintenanceEvent) -> list[Sent]:
        """Azure's notice arrives: ingest's queue message, the enrich stage, then routing."""
        self._refill()
        before = self._known()
        courier = self.storage.courier
        courier.send("events", Envelope("event", event.event_id, event.to_json()))
        queues = self.queues
        self.stage.handle(queues.messages["events"].popleft(), dequeue_count=1)
        return self.drain(before)

    def scheduled_event(self, body: bytes | ScheduledEventPost) -> list[Sent]:
        """A Scheduled Events forwarder's post (or one read from Event Grid), as the intake
        makes it a notice, then routing."""
        before = self._known()
        post = parse_post(body) if isinstance(body, bytes) else body
        notice = notice_of(post, self.records, self.now)
        sent, failures = messages_of(
            notice, self.config, self.now, before, before, self.claims.ownership()
        )
        assert not failures, failures
        self.sent.extend(sent)
        return sent

    def sweep(self, subscriptions: list[str]) -> tuple[PassReport, list[Sent]]:
        self._refill()
        before = self._known()
        report = self.runner.sweep(subscriptions, self.now)
        return report, self.drain(before)

    def remind(self, offsets: ReminderOffsets | None = None) -> tuple[PassReport, list[Sent]]:
        self._refill()
        before = self._known()
        report = self.runner.remind(self.now, offsets or ReminderOffsets())
        return report, self.drain(before)

    def _known(self) -> dict[str, MaintenanceRecord]:
        return {record.vm_id.lower(): record for record in self.records.all()}

    @property
    def queues(self) -> InMemoryQueuePublisher:
        queues = self.storage.queues
        assert isinstance(queues, InMemoryQueuePublisher)
        return queues

    def drain(self, before: dict[str, MaintenanceRecord] | None = None) -> list[Sent]:
        """Route every event on the ``enriched`` queue to every receiver, rendered now."""
        records = self._known()
        new: list[Sent] = []
        for text in list(self.queues.drain("enriched")):
            enriched = EnrichedEvent.from_json(self.storage.courier.open(text).body)
            sent, failures = messages_of(
                enriched, self.config, self.now, records, before or {}, self.claims.ownership()
            )
            assert not failures, failures
            new.extend(sent)
        self.sent.extend(new)
        return new


def messages_of(
    enriched: EnrichedEvent,
    config: RoutingConfig,
    now: datetime,
    records: dict[str, MaintenanceRecord],
    before: dict[str, MaintenanceRecord],
    ownership: Ownership | None = None,
) -> tuple[list[Sent], list[RenderFailure]]:
    """Every receiver's message for ``enriched``, rendered at ``now`` by the route stage, with
    what the oracle compares it with: ``records`` (after the pass), ``before`` (before it),
    ``ownership`` (the claims in force, which the route stage reads too); and the receivers
    whose message could not be rendered."""
    # Start from the message on: every plan step the oracle reads carries its Start link.
    routed = route_receivers(enriched, config, now, start_links=START_LINKS, ownership=ownership)
    vms = {group.receiver.name: group.vms for group in group_event(enriched, config, now)}
    wave = (enriched.event.tracking_id or "").lower()
    still_open = [
        record.vm
        for record in records.values()
        if record.is_open and (record.tracking_id or "").lower() == wave
    ]
    others = replace(enriched, vms=still_open, remaining=[])
    open_ids = {
        group.receiver.name: {vm.id.lower() for vm in group.vms}
        for group in group_event(others, config, now)
    }
    sent = [
        Sent(
            now,
            enriched,
            job,
            records,
            vms.get(job.receiver.name, []),
            open_ids.get(job.receiver.name, set()),
            before,
            ownership,
        )
        for job in routed.jobs
    ]
    return sent, routed.failures


@contextmanager
def wave_harness(
    fleet: Fleet,
    now: datetime,
    routing: str = EVERY_CHANNEL,
    cache: InstanceViewCache | None = None,
) -> Iterator[WaveHarness]:
    with ArmStandIn(fleet) as arm:
        yield WaveHarness(
            fleet, arm, parse_config(routing), now, cache=cache or InMemoryInstanceViewCache()
        )
