"""Render: time to render a 2,000-VM event on every channel, and the route stage's import cost.

    python -m bench.render [--quick] [--against REV]

Prints, per channel, the median and worst render time of one message for a 2,000-VM event
(built from the real samples) and its ratio to the budget: 1 s per message, so that the route
stage renders five receivers well inside a queue message's visibility timeout. Then the whole
route stage for the example routing file (grouping + every receiver), and the wall time of
``import shared.routing.stage`` (what routing adds to a cold start) against ``python -c pass``.
Goals (issue 18): each channel <= 100 ms at 2,000 VMs, the import adds <= 300 ms.
Last, what the email's calendar costs the delivery stage (issue 21): writing the .ics of that
email (its entries are capped, so 2,000 VMs cost what 50 do; forewarn's own writer since
issue 18, which imports nothing: ``icalendar`` cost each delivery process ~66 ms once).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from bench.figures import emit
from shared.models import Receiver
from shared.render import RENDERERS, render_message
from shared.render.calendar import MaintenanceCalendar, to_ics
from shared.routing.config import load_config
from shared.routing.stage import route_event
from shared.standins.enriched_samples import NOW, enriched_with_vms

BUDGET_MS = 1000.0
GOAL_CHANNEL_MS = 100.0  # issue 18: per channel at 2,000 VMs, the webhook included
GOAL_IMPORT_MS = 300.0  # issue 18: what importing the route stage may add to a cold start
VMS = 2000
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "routing.yaml"


def _timed(action, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def _import_ms(code: str, repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main(argv: list[str]) -> int:
    if "--against" in argv:
        from bench.against import run_against

        return run_against("render", argv)
    figures: dict[str, float | None] = {}
    repeat = 3 if "--quick" in argv else 10
    enriched = enriched_with_vms(VMS)
    over = 0
    print(f"render, {VMS} VMs, {repeat} runs each, budget {BUDGET_MS:.0f} ms per message")
    for channel in sorted(RENDERERS):
        receiver = Receiver(
            name=f"bench-{channel}",
            type=channel,
            targets=[],  # type: ignore[arg-type]
            timezone="Europe/Amsterdam",
        )
        message = render_message(enriched, receiver, enriched.vms, NOW)  # warm caches
        # A copy of the event each time: the facts an event's receivers share (render/facts.py)
        # are kept per event object, and each run must pay for them as a new event does.
        samples = _timed(
            lambda r=receiver: render_message(replace(enriched), r, enriched.vms, NOW), repeat
        )
        median, worst = statistics.median(samples), max(samples)
        over += int(worst > BUDGET_MS)
        size = message.meta.get("bytes") or message.meta.get("html_bytes") or len(message.text)
        print(
            f"  {channel:8} median {median:7.1f} ms  worst {worst:7.1f} ms  "
            f"ratio {median / BUDGET_MS:5.3f}  goal {median / GOAL_CHANNEL_MS:5.2f}  "
            f"({size:,} bytes)"
        )
        figures[f"{channel}_median_ms"] = median
    config = load_config(EXAMPLE)
    stage = _timed(lambda: route_event(replace(enriched), config, NOW), repeat)
    jobs = route_event(enriched, config, NOW)
    median = statistics.median(stage)
    print(
        f"  route stage, example file ({len(jobs)} receivers): median {median:.1f} ms, "
        f"ratio {median / (BUDGET_MS * len(jobs)):.3f} of {len(jobs)} x budget"
    )
    figures["route_stage_ms"] = median
    runs = 3 if "--quick" in argv else 7
    baseline = _import_ms("pass", runs)
    routing = _import_ms("import shared.routing.stage, shared.routing.config", runs)
    print(
        f"  cold start: python -c pass {baseline:.0f} ms; + import route stage "
        f"{routing:.0f} ms (adds {routing - baseline:.0f} ms, ratio {routing / baseline:.2f}; "
        f"goal {(routing - baseline) / GOAL_IMPORT_MS:.2f} of {GOAL_IMPORT_MS:.0f} ms)"
    )
    figures["import_route_stage_adds_ms"] = routing - baseline
    mail = render_message(enriched, replace(receiver, type="email"), enriched.vms, NOW)
    calendar = MaintenanceCalendar.from_json(mail.calendar or {})
    to_ics(calendar, "bench@example.com")  # the import, once
    ics = statistics.median(_timed(lambda: to_ics(calendar, "bench@example.com"), repeat))
    print(f"  email calendar: .ics of {len(calendar.entries)} entries {ics:.2f} ms per send")
    figures["email_ics_ms"] = ics
    emit("render", figures)
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
