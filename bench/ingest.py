"""Ingest: alerts per second in-process, HTTP latency on `forewarn serve`, cold-start cost.

    python -m bench.ingest [--quick]

Prints: validated alerts/s through ``AlertIngestor.handle`` with an in-memory queue; p50/p99
of ``POST /api/alerts`` on the dev host with a real Azurite queue; and the wall time of
``python -c "import function_app"`` against ``python -c pass`` as a ratio (what the app adds
to a cold start before the first request can be served).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

from shared.ingest import AlertIngestor, IngestRequest
from shared.storage import Courier, InMemoryPayloadStore, InMemoryQueuePublisher

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = (
    ROOT / "tests/fixtures/forewarn/common-servicehealth-maintenance-planned.json"
).read_bytes()
JSON = {"Content-Type": "application/json"}


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def in_process(count: int) -> float:
    handler = AlertIngestor(Courier(InMemoryQueuePublisher(), InMemoryPayloadStore()))
    request = IngestRequest(SAMPLE, JSON)
    handler.handle(request)  # warm caches (schemas)
    started = time.perf_counter()
    for _ in range(count):
        assert handler.handle(request).status == 202
    return count / (time.perf_counter() - started)


def over_http(count: int) -> tuple[float, float, float]:
    from shared.devhost.azurite import Azurite
    from shared.standins.served import LOCAL_ALERTS_KEY, served

    with Azurite.start() as azurite, served(azurite.connection_string, LOCAL_ALERTS_KEY) as base:
        url = f"{base}/api/alerts?code={LOCAL_ALERTS_KEY}"
        session = requests.Session()
        for _ in range(20):  # warm-up: the first queue write creates the queue
            session.post(url, data=SAMPLE, headers=JSON, timeout=10)
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            answer = session.post(url, data=SAMPLE, headers=JSON, timeout=10)
            latencies.append((time.perf_counter() - started) * 1000)
            assert answer.status_code == 202, answer.text
    return percentile(latencies, 0.5), percentile(latencies, 0.99), max(latencies)


def cold_start(repeats: int) -> tuple[float, float]:
    def best_of(code: str) -> float:
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
            times.append(time.perf_counter() - started)
        return statistics.median(times)

    return best_of("pass"), best_of("import function_app")


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    rate = in_process(500 if quick else 5000)
    print(f"in-process ingest: {rate:,.0f} validated alerts/s")
    p50, p99, worst = over_http(100 if quick else 1000)
    print(
        f"POST /api/alerts on forewarn serve + Azurite: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"max {worst:.1f} ms"
    )
    bare, app = cold_start(3 if quick else 7)
    print(
        f"cold start: python -c pass {bare * 1000:.0f} ms, import function_app "
        f"{app * 1000:.0f} ms, ratio {app / bare:.1f}x (adds {(app - bare) * 1000:.0f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
