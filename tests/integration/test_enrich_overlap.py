"""A notice's enrich reads that do not depend on each other run side by side (issue 18).

Real HTTP on 127.0.0.1: the stand-in ARM (and its Resource Graph), the real ARM client and
pacer. What is checked is who waits for whom, not how long anything takes.

    GIVEN a subscription's VMs, found by        WHEN enriched        THEN
    Resource Graph (Azure names none)           the schedules list   is asked while the cache
    Azure's impacted resources                  and the cache read   of those VMs is being
    the VM list (Resource Graph off)                                 read: neither waits for
                                                                     the other
    48 uncached VMs named by Azure, 0.3 s of    their reads          more than 16 and at most
    latency per ARM answer                                           32 in flight at once
    150 uncached VMs named by Azure, 0.2 s of   their reads          the first 100 are cached
    latency                                                          (one transaction) before
                                                                     the last VM is asked for,
                                                                     the other 50 after; each
                                                                     once
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
from shared.enrich.arm import ArmClient, ArmResponse, StaticTokenProvider
from shared.enrich.instance_view import (
    CachedRead,
    InMemoryInstanceViewCache,
    InstanceViewReader,
    VmReading,
    VmRef,
)
from shared.enrich.pacing import Operation
from shared.enrich.pipeline import EnrichmentServices, enrich_event
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
    """Notes each write and how many VMs ARM had been asked for by then."""

    def __init__(self, arm: ArmStandIn) -> None:
        super().__init__()
        self._arm = arm
        self.writes: list[tuple[int, int]] = []  # (VMs written, VMs asked of ARM so far)

    def put_many(self, reads: Mapping[str, CachedRead]) -> None:
        self.writes.append((len(reads), self._arm.counts[f"get {SUB}"]))
        super().put_many(reads)


def test_reads_are_cached_while_the_rest_are_still_read() -> None:
    with ArmStandIn(fleet_of(150, impacted=True), latency=0.2) as arm:
        cache = RecordingCache(arm)
        client = ArmClient(arm.base_url, StaticTokenProvider(arm.token))
        services = EnrichmentServices.create({}, cache, arm=client)
        enriched = enrich_event(maintenance_event([SUB], tracking_id=TRACKING), services)
        client.close()
    assert len(enriched.vms) == 150
    assert [written for written, _ in cache.writes] == [100, 50]
    first_asked = cache.writes[0][1]
    assert first_asked < 150, "the first 100 were cached only after every VM was asked for"
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
