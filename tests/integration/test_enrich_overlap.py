"""A notice's enrich reads that do not depend on each other run side by side (issue 18).

Real HTTP on 127.0.0.1: the stand-in ARM (and its Resource Graph), the real ARM client and
pacer. What is checked is who waits for whom, not how long anything takes.

    GIVEN a subscription's VMs, found by        WHEN enriched        THEN
    Resource Graph (Azure names none)           the schedules list   is asked while the cache
    Azure's impacted resources                  and the cache read   of those VMs is being
    the VM list (Resource Graph off)                                 read: neither waits for
                                                                     the other
    3 uncached VMs                              the schedules list   is still being read when
                                                and the VM reads     the VMs are asked for
    3 VMs; their schedules list fails (ARM      the last attempt     the subscription is a note
    unavailable); 1 VM of another subscription                       and none of its VMs is in
                                                                     the notice (as when the
                                                                     reads came after the list);
                                                                     the other's VM is
                                                another attempt      ARM unavailable: raised
    48 uncached VMs named by Azure, 0.3 s of    their reads          more than 16 and at most
    latency per ARM answer                                           32 in flight at once
    150 uncached VMs named by Azure             their reads          the first 100 are cached
                                                                     (one transaction) before
                                                                     the last VM is read, the
                                                                     other 50 after; each once
    40 VMs, every one fresh in the cache        a second notice      no ARM read of a VM and no
                                                                     reading thread: the hits
                                                                     are read where the notice
                                                                     is handled
    3 VMs, tracing on                           enriched in the      its time split in two child
                                                stage's read span    spans: discovery, then the
                                                                     VMs' reads (bench pipeline
                                                                     prints them)
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from opentelemetry import trace as otel_trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import names
from shared.enrich.arm import ArmClient, ArmResponse
from shared.enrich.arm_tokens import StaticTokenProvider
from shared.enrich.errors import ArmUnavailableError
from shared.enrich.instance_view import (
    CachedRead,
    InMemoryInstanceViewCache,
    InstanceViewReader,
    VmReading,
    VmRef,
)
from shared.enrich.pacing import Operation
from shared.enrich.pipeline import enrich_event
from shared.enrich.services import EnrichmentServices
from shared.standins.arm_fleet import Fleet, FleetVm, maintenance_event, window_from
from shared.standins.arm_server import ArmStandIn
from shared.standins.stand_in import Answer, Recorded
from shared.telemetry import stage_span

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
SUB = "sub-overlap"
TRACKING = "BC_1-FXZ"
PATIENCE = 3.0  # seconds one read waits to see the other begin; only a failing test waits


class WatchedCache(InMemoryInstanceViewCache):
    """Says when the instance-view cache starts being read."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = threading.Event()

    def get_many(self, vm_ids: list[str]) -> dict[str, CachedRead]:
        self.reading.set()
        return super().get_many(vm_ids)


class WatchedArm(ArmClient):
    """Asks for the auto-shutdown schedules only once the cache read has begun (or gives up
    after ``PATIENCE``): done one after the other, the schedules would never see it begin."""

    def __init__(self, *args: Any, cache: WatchedCache, **options: Any) -> None:
        super().__init__(*args, **options)
        self._cache = cache
        self.schedules_saw_cache_read: bool | None = None

    def request(self, method: str, path: str, operation: Operation, **options: Any) -> ArmResponse:
        if "/providers/Microsoft.DevTestLab/schedules" in path:
            self.schedules_saw_cache_read = self._cache.reading.wait(PATIENCE)
        return super().request(method, path, operation, **options)


def fleet_of(vms: int, *, impacted: bool) -> Fleet:
    fleet = Fleet()
    for index in range(vms):
        fleet.add(
            FleetVm(
                SUB,
                "rg-app",
                f"app-{index:02d}",
                auto_shutdown=index == 0,
                maintenance=window_from(NOW - timedelta(days=1)),
            )
        )
    if impacted:
        fleet.impact(SUB, TRACKING, list(fleet.of(SUB)))
    return fleet


@pytest.mark.parametrize(
    ("found_by", "graph", "impacted"),
    [
        ("Resource Graph", "on", False),
        ("impacted resources", "on", True),
        ("the VM list", "off", False),
    ],
)
def test_the_schedules_are_asked_while_the_cache_is_read(
    found_by: str, graph: str, impacted: bool
) -> None:
    cache = WatchedCache()
    with ArmStandIn(fleet_of(3, impacted=impacted)) as arm:
        client = WatchedArm(arm.base_url, StaticTokenProvider(arm.token), cache=cache)
        environ = {names.SETTING_RESOURCE_GRAPH: graph}
        services = EnrichmentServices.create(environ, cache, arm=client)
        enriched = enrich_event(maintenance_event([SUB], tracking_id=TRACKING), services)
        client.close()
    assert client.schedules_saw_cache_read is True, found_by
    assert len(enriched.vms) == 3
    # The schedules still reach the advice: app-00 has auto-shutdown.
    avoided = [vm.name for vm in enriched.vms if vm.advice.action == "avoid_self_service"]
    assert avoided == ["app-00"]


class ReadsBesideSchedulesArm(ArmClient):
    """Answers the schedules list only once a VM has been asked for (or after ``PATIENCE``),
    and in subscription ``fail_in`` not at all (ARM unavailable)."""

    def __init__(self, *args: Any, fail_in: str | None = None, **options: Any) -> None:
        super().__init__(*args, **options)
        self.vm_asked = threading.Event()
        self.schedules_saw_vm_read: bool | None = None
        self._fail_in = fail_in

    def request(self, method: str, path: str, operation: Operation, **options: Any) -> ArmResponse:
        if "/providers/Microsoft.DevTestLab/schedules" in path:
            self.schedules_saw_vm_read = self.vm_asked.wait(PATIENCE)
            if f"/subscriptions/{self._fail_in}/" in path:
                raise ArmUnavailableError(f"{method} {path}: HTTP 503", status=503)
        elif "/virtualMachines/" in path:
            self.vm_asked.set()
        return super().request(method, path, operation, **options)


def test_the_vms_are_read_while_the_schedules_are_still_being_read() -> None:
    with ArmStandIn(fleet_of(3, impacted=True)) as arm:
        client = ReadsBesideSchedulesArm(arm.base_url, StaticTokenProvider(arm.token))
        services = EnrichmentServices.create({}, InMemoryInstanceViewCache(), arm=client)
        enriched = enrich_event(maintenance_event([SUB], tracking_id=TRACKING), services)
        client.close()
    assert client.schedules_saw_vm_read is True
    avoided = [vm.name for vm in enriched.vms if vm.advice.action == "avoid_self_service"]
    assert (len(enriched.vms), avoided) == (3, ["app-00"])


@pytest.mark.parametrize("final_attempt", [True, False])
def test_schedules_that_fail_make_their_subscription_a_note_as_before(
    final_attempt: bool,
) -> None:
    other = "sub-other"
    fleet = fleet_of(3, impacted=True)
    fleet.add(FleetVm(other, "rg-db", "db-0", maintenance=window_from(NOW - timedelta(days=1))))
    fleet.impact(other, TRACKING, list(fleet.of(other)))
    with ArmStandIn(fleet) as arm:
        client = ReadsBesideSchedulesArm(arm.base_url, StaticTokenProvider(arm.token), fail_in=SUB)
        services = EnrichmentServices.create({}, InMemoryInstanceViewCache(), arm=client)
        event = maintenance_event([SUB, other], tracking_id=TRACKING)
        if not final_attempt:
            with pytest.raises(ArmUnavailableError):
                enrich_event(event, services)
            client.close()
            return
        enriched = enrich_event(event, services, final_attempt=True)
        client.close()
    assert [vm.name for vm in enriched.vms] == ["db-0"]
    assert [(note.code, note.subscription_id) for note in enriched.notes] == [
        ("arm_unavailable", SUB)
    ]


class PeakArmStandIn(ArmStandIn):
    """Counts the requests it is answering at once (its latency is spent inside ``answer``)."""

    def __init__(self, *args: Any, **options: Any) -> None:
        super().__init__(*args, **options)
        self._peak_lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0

    def answer(self, request: Recorded) -> Answer:
        with self._peak_lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            return super().answer(request)
        finally:
            with self._peak_lock:
                self.in_flight -= 1


@pytest.fixture
def slow_arm() -> Iterator[PeakArmStandIn]:
    with PeakArmStandIn(fleet_of(48, impacted=True), latency=0.3) as arm:
        yield arm


def test_uncached_vms_are_read_up_to_32_at_a_time(slow_arm: PeakArmStandIn) -> None:
    client = ArmClient(slow_arm.base_url, StaticTokenProvider(slow_arm.token))
    services = EnrichmentServices.create({}, InMemoryInstanceViewCache(), arm=client)
    enriched = enrich_event(maintenance_event([SUB], tracking_id=TRACKING), services)
    client.close()
    assert len(enriched.vms) == 48
    # Within ARM's read bucket (250 at once) more reads side by side are fewer round trips;
    # the client's bound still holds.
    assert 16 < slow_arm.peak <= 32


class RecordingCache(InMemoryInstanceViewCache):
    """Notes how many VMs each write holds, and says when the first one begins."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []
        self.written = threading.Event()

    def put_many(self, reads: Mapping[str, CachedRead]) -> None:
        self.writes.append(len(reads))
        self.written.set()
        super().put_many(reads)


class LastVmWaitsArm(ArmClient):
    """Reads VM ``last`` only once the cache has been written to (or after ``PATIENCE``):
    with the cache written after every read, it would never see a write begin."""

    def __init__(self, *args: Any, cache: RecordingCache, last: str, **options: Any) -> None:
        super().__init__(*args, **options)
        self._cache = cache
        self._last = last
        self.last_saw_a_write: bool | None = None

    def request(self, method: str, path: str, operation: Operation, **options: Any) -> ArmResponse:
        if path.endswith(f"/virtualMachines/{self._last}"):
            self.last_saw_a_write = self._cache.written.wait(PATIENCE)
        return super().request(method, path, operation, **options)


def test_reads_are_cached_while_the_rest_are_still_read() -> None:
    cache = RecordingCache()
    with ArmStandIn(fleet_of(150, impacted=True)) as arm:
        client = LastVmWaitsArm(
            arm.base_url, StaticTokenProvider(arm.token), cache=cache, last="app-149"
        )
        services = EnrichmentServices.create({}, cache, arm=client)
        enriched = enrich_event(maintenance_event([SUB], tracking_id=TRACKING), services)
        client.close()
    assert len(enriched.vms) == 150
    assert client.last_saw_a_write is True
    assert cache.writes == [100, 50]
    assert len(cache.entries) == 150


class ThreadNotingReader(InstanceViewReader):
    """Notes on which thread each VM is read."""

    threads: list[str]

    def read_through(
        self, ref: VmRef, cached: CachedRead | None
    ) -> tuple[VmReading, CachedRead | None]:
        self.threads.append(threading.current_thread().name)
        return super().read_through(ref, cached)


def test_cached_vms_are_read_without_a_thread_pool() -> None:
    with ArmStandIn(fleet_of(40, impacted=True)) as arm:
        client = ArmClient(arm.base_url, StaticTokenProvider(arm.token))
        services = EnrichmentServices.create({}, InMemoryInstanceViewCache(), arm=client)
        reader = ThreadNotingReader(client, services.reader.cache)
        reader.threads = []
        services.reader = reader
        first = enrich_event(maintenance_event([SUB], tracking_id=TRACKING), services)
        asked = arm.counts[f"get {SUB}"]
        reader.threads = []
        second = enrich_event(maintenance_event([SUB], tracking_id=TRACKING), services)
        client.close()
    assert (asked, arm.counts[f"get {SUB}"]) == (40, 40)
    assert set(reader.threads) == {threading.current_thread().name}
    assert [vm.to_json() for vm in second.vms] == [vm.to_json() for vm in first.vms]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """An SDK tracer provider recording into memory for this test only (OpenTelemetry sets a
    process's provider once: the previous one is put back through the API's globals)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = (otel_trace._TRACER_PROVIDER, otel_trace._TRACER_PROVIDER_SET_ONCE._done)
    otel_trace._TRACER_PROVIDER_SET_ONCE._done = False
    otel_trace.set_tracer_provider(provider)
    yield exporter
    provider.shutdown()
    otel_trace._TRACER_PROVIDER, otel_trace._TRACER_PROVIDER_SET_ONCE._done = saved


def test_the_read_span_names_discovery_and_the_vm_reads(spans: InMemorySpanExporter) -> None:
    with ArmStandIn(fleet_of(3, impacted=False)) as arm:
        client = ArmClient(arm.base_url, StaticTokenProvider(arm.token))
        services = EnrichmentServices.create({}, InMemoryInstanceViewCache(), arm=client)
        with stage_span("enrich.read"):
            enrich_event(maintenance_event([SUB], tracking_id=TRACKING), services)
        client.close()
    finished = {span.name: span for span in spans.get_finished_spans()}
    read = finished["forewarn.enrich.read"]
    children = sorted(
        (span for span in finished.values() if span.parent is not None),
        key=lambda span: span.start_time or 0,
    )
    assert [span.name for span in children] == ["forewarn.enrich.discover", "forewarn.enrich.vms"]
    assert {span.parent.span_id for span in children if span.parent} == {
        read.get_span_context().span_id
    }
    assert children[1].attributes and children[1].attributes["forewarn.vms"] == 3
