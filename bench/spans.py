"""Where one notice's time goes, read from the stages' own trace spans (shared/telemetry.py).

Each stage runs in a ``forewarn.<stage>`` span that continues the notice's trace across the
queues, and the enrich and route stages open child spans for their parts. The benchmark
installs an in-memory OpenTelemetry SDK, so the figures are the product's own spans, not a
second set of timers that could drift from what production traces show.

The gaps between stages are queue waits: the host's poll interval plus opening the message
(a 200-VM event travels as a claim-checked blob, read before the next stage's span starts).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

STAGES = (
    "ingest",
    "wait: events queue",
    "enrich reads (ARM)",
    "reads: discovery",  # of the enrich reads: impacted, Resource Graph, schedules beside cache
    "reads: VMs, cache",  # of the enrich reads: instance views (cache or ARM), cache writes
    "records",
    "enrich, rest",
    "wait: enriched queue",
    "render",
    "route, rest",
    "wait: delivery queue",
    "deliver (last channel)",
)


class SpanRecorder:
    """Keeps every finished span of this process in memory (the dev host runs in it)."""

    def __init__(self) -> None:
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

        self._exporter = InMemorySpanExporter()
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(self._exporter))
        trace.set_tracer_provider(provider)

    def clear(self) -> None:
        self._exporter.clear()

    def breakdown(self) -> dict[str, float]:
        """Seconds per stage of the one notice recorded since ``clear``; {} if it has no spans."""
        by_name: dict[str, list[Any]] = defaultdict(list)
        for span in self._exporter.get_finished_spans():
            by_name[span.name.removeprefix("forewarn.")].append(span)
        needed = ("ingest", "enrich", "route", "deliver")
        if not all(by_name[name] for name in needed):
            return {}

        def seconds(nanos: int) -> float:
            return max(0, nanos) / 1e9

        def length(spans: list[Any]) -> float:
            return sum(seconds(span.end_time - span.start_time) for span in spans)

        ingest, enrich, route = by_name["ingest"][0], by_name["enrich"][-1], by_name["route"][-1]
        last = max(by_name["deliver"], key=lambda span: span.end_time)
        reads, records = length(by_name["enrich.read"]), length(by_name["enrich.records"])
        discovery, vm_reads = length(by_name["enrich.discover"]), length(by_name["enrich.vms"])
        render = length(by_name["route.render"])
        return {
            "ingest": length([ingest]),
            "wait: events queue": seconds(enrich.start_time - ingest.end_time),
            "enrich reads (ARM)": reads,
            "reads: discovery": discovery,
            "reads: VMs, cache": vm_reads,
            "records": records,
            "enrich, rest": max(0.0, length([enrich]) - reads - records),
            "wait: enriched queue": seconds(route.start_time - enrich.end_time),
            "render": render,
            "route, rest": max(0.0, length([route]) - render),
            "wait: delivery queue": seconds(last.start_time - route.end_time),
            "deliver (last channel)": length([last]),
        }
