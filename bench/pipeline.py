"""End to end on the local host: ``POST /api/alerts`` to the last receiver's delivery.

    python -m bench.pipeline [--quick] [--vms 20,200,2000] [--runs N] [--against REV]

A maintenance event (200 VMs by default, every VM with a window, behind the stand-in ARM with
20 ms latency and its real token-bucket limits) goes to five receivers (SMTP, Twilio, Slack,
Teams, webhook stand-ins) through Azurite and the dev host. Each run posts a new notification
of a new wave and waits until all five have it. Prints p50/p99 of that time against the goals
(p50 <= 1.0 s, p99 <= 1.5 s warm, first run <= 2 s at 200 VMs), where it goes per stage (the
stages' own trace spans, spans.py), and with several ``--vms`` the slope per VM.
``--against REV`` runs the same on a worktree of REV, alternately (against.py).
"""

from __future__ import annotations

import itertools
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from bench.figures import emit, median, percentile
from bench.spans import STAGES, SpanRecorder
from shared.devhost.azurite import Azurite
from shared.devhost.settings import QueueOptions
from shared.standins.local_stack import LocalStack, demo_fleet, sample_alert

VMS = 200
QUEUE_POLL_SECONDS = 0.25  # the dev host's longest wait between polls of an empty queue
GOAL_P50_S, GOAL_P99_S, GOAL_COLD_S = 1.0, 1.5, 2.0  # issue 18, at 200 VMs x 5 receivers
DEMO_VMS_WITH_WINDOW = 5  # the demo fleet's own VMs with a window


def _options() -> QueueOptions:
    return QueueOptions(
        batch_size=16,
        max_dequeue_count=5,
        visibility_timeout_seconds=2,
        max_polling_interval_seconds=QUEUE_POLL_SECONDS,
    )


def _arg(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv and argv.index(name) + 1 < len(argv) else None


@dataclass(frozen=True)
class SizeResult:
    """One fleet size: seconds from POST to the last delivery, and per stage."""

    vms: int
    cold: float
    p50: float
    p99: float
    min: float
    p50_incl_cold: float  # what revisions before the FIGURES line printed as p50 and p99
    p99_incl_cold: float
    arm_requests: int
    stages: dict[str, float]  # median of the warm runs
    cold_stages: dict[str, float]


def run_size(vms: int, runs: int, azurite: Azurite, spans: SpanRecorder) -> SizeResult:
    """``runs`` notices through one stack of ``vms`` VMs: timings and per-stage medians."""
    fleet = demo_fleet(extra_vms=vms - DEMO_VMS_WITH_WINDOW)
    timings: list[float] = []
    stages: list[dict[str, float]] = []
    # A 2,000-VM cold run waits for ARM's read bucket (250 burst + 25/s): allow for it.
    timeout = 120 + vms * 0.06
    with (
        tempfile.TemporaryDirectory(prefix="forewarn-bench-") as workdir,
        LocalStack(
            fleet,
            workdir=Path(workdir),
            azurite=azurite,
            arm_latency=0.02,
            queue_options=_options(),
            quiet=True,
        ) as stack,
    ):
        for run in range(runs):
            spans.clear()
            alert = sample_alert(communication_id=uuid.uuid4().hex)
            started = time.perf_counter()
            answer = stack.post_alert(alert)
            assert answer.status_code == 202, answer.text
            if not stack.wait_for_deliveries(run + 1, timeout):
                raise SystemExit(f"run {run}: not every receiver got the message")
            timings.append(time.perf_counter() - started)
            time.sleep(0.05)  # the last deliver span ends just after the receiver has it
            stages.append(spans.breakdown())
        vm_count = int(stack.sinks.webhook.deliveries[-1].document.get("vm_count") or 0)
        arm_requests = len(stack.arm.requests)
    warm = timings[1:] or timings
    per_stage = {
        stage: median([run[stage] for run in stages[1:] if stage in run]) for stage in STAGES
    }
    return SizeResult(
        vms=vm_count,
        cold=timings[0],
        p50=percentile(warm, 0.5),
        p99=percentile(warm, 0.99),
        min=min(warm),
        p50_incl_cold=percentile(timings, 0.5),
        p99_incl_cold=percentile(timings, 0.99),
        arm_requests=arm_requests,
        stages=per_stage if any(per_stage.values()) else {},
        cold_stages=stages[0],
    )


def _print_size(result: SizeResult, runs: int) -> None:
    print(
        f"{result.vms} VMs to 5 receivers, {runs} runs (first cold, {runs - 1} warm): "
        f"POST -> last delivery p50 {result.p50:.2f} s, p99 {result.p99:.2f} s, "
        f"min {result.min:.2f} s; cold {result.cold:.2f} s"
    )
    print(f"  ARM requests over all runs: {result.arm_requests}")
    if result.stages:
        print("  where the time goes (median of warm runs; cold run beside it):")
        for stage in STAGES:
            cold = result.cold_stages.get(stage, 0.0)
            print(f"    {stage:24} {result.stages[stage]:6.3f} s   cold {cold:6.3f} s")
        print(
            "    (a wait is opening the message; a hop woken by its sender polls at once, "
            f"else up to {QUEUE_POLL_SECONDS:.2f} s passes before the next poll)"
        )


def _slope(results: list[SizeResult]) -> float:
    """Least-squares seconds per VM of the warm p50 over the fleet sizes."""
    xs, ys = [float(r.vms) for r in results], [r.p50 for r in results]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def main(argv: list[str]) -> int:
    if "--against" in argv:
        from bench.against import run_against

        return run_against("pipeline", argv)
    quick = "--quick" in argv
    sizes = [int(size) for size in (_arg(argv, "--vms") or str(VMS)).split(",")]
    runs = int(_arg(argv, "--runs") or (4 if quick else 12))
    spans = SpanRecorder()
    figures: dict[str, float | None] = {}
    results = []
    with Azurite.start() as azurite:
        for vms in sizes:
            result = run_size(vms, runs, azurite, spans)
            _print_size(result, runs)
            results.append(result)
            tag = "" if vms == VMS else f"_{vms}vms"
            for key in ("p50", "p99", "min", "cold", "p50_incl_cold", "p99_incl_cold"):
                figures[f"{key}{tag}_s"] = getattr(result, key)
            for stage, seconds in result.stages.items():
                figures[f"stage {stage}{tag}_s"] = seconds
    for r in results:
        if r.vms == VMS:
            print(
                f"goals at {VMS} VMs: p50 {r.p50:.2f}/{GOAL_P50_S} s = {r.p50 / GOAL_P50_S:.2f}, "
                f"p99 {r.p99:.2f}/{GOAL_P99_S} s = {r.p99 / GOAL_P99_S:.2f}, "
                f"cold {r.cold:.2f}/{GOAL_COLD_S} s = {r.cold / GOAL_COLD_S:.2f} "
                "(<= 1 meets the goal)"
            )
    if len(results) > 1:
        slope = _slope(results)
        print(f"slope of the warm p50: {slope * 1000:.3f} ms per VM (least squares)")
        for before, after in itertools.pairwise(results):
            step = (after.p50 - before.p50) / (after.vms - before.vms)
            print(f"  {before.vms} -> {after.vms} VMs: {step * 1000:.3f} ms per VM")
        figures["slope_ms_per_vm"] = slope * 1000
    emit("pipeline", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
