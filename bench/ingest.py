"""Ingest: alerts per second in-process, HTTP latency on `forewarn serve`, cold-start cost.

    python -m bench.ingest [--quick] [--against REV]

Prints: validated alerts/s through ``AlertIngestor.handle`` with an in-memory queue; p50/p99
of ``POST /api/alerts`` on the dev host with a real Azurite queue; its rate, with one client
and with 8, against a bare ``send_message`` to the same Azurite (goal >= 0.8x); beside it, the
two costs no intake can avoid, measured in the same blocks: forewarn's own put of the same
body (``AzureQueuePublisher.send``) and an HTTP round trip to an echo server built like the
dev host's, and the ceiling they leave, bare put / (forewarn's put + echo), with the ceiling an
intake writing through the SDK would have had, bare put / (bare put + echo); and the wall time
of ``python -c "import function_app"`` against ``python -c pass`` as a ratio (what the app
adds to a cold start before the first request can be served).
"""

from __future__ import annotations

import base64
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import requests

from bench.figures import emit, percentile
from shared.ingest import AlertIngestor, IngestRequest
from shared.storage import (
    AzureQueuePublisher,
    Courier,
    InMemoryPayloadStore,
    InMemoryQueuePublisher,
    StorageEndpoints,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = (
    ROOT / "tests/fixtures/forewarn/common-servicehealth-maintenance-planned.json"
).read_bytes()
JSON = {"Content-Type": "application/json"}
CLIENTS = 8
GOAL_INTAKE_RATIO = 0.8  # issue 18: intake >= 0.8 x a bare durable put


def in_process(count: int) -> float:
    handler = AlertIngestor(Courier(InMemoryQueuePublisher(), InMemoryPayloadStore()))
    request = IngestRequest(SAMPLE, JSON)
    handler.handle(request)  # warm caches (schemas)
    started = time.perf_counter()
    for _ in range(count):
        assert handler.handle(request).status == 202
    return count / (time.perf_counter() - started)


def _rate(count: int, clients: int, send: Callable[[int], None]) -> float:
    """Sends per second: ``count`` sends shared by ``clients`` threads, each its own client."""
    per_client = count // clients
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(lambda client: [send(client) for _ in range(per_client)], range(clients)))
    return per_client * clients / (time.perf_counter() - started)


class _Echo(BaseHTTPRequestHandler):
    """The least an HTTP intake does: read the body, answer 202 with a short JSON. Served like
    the dev host serves (``ThreadingHTTPServer``, HTTP/1.1 keep-alive, Nagle off)."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    ANSWER = b'{"event_id": "00000000000000000000000000000000"}'

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.ANSWER)))
        self.end_headers()
        self.wfile.write(self.ANSWER)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    server.daemon_threads = True
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}/api/alerts"
    finally:
        server.shutdown()
        server.server_close()


def over_http(count: int, blocks: int) -> dict[str, float]:
    """Latency of ``POST /api/alerts`` on `forewarn serve`, and its rate against the floor under
    any durable intake: a bare azure-storage-queue ``send_message`` to the same Azurite, of
    the same body, measured in the same run. They alternate in ``blocks`` blocks (the box is
    shared: whatever else runs hits both alike); each rate is the median of its blocks, each
    ratio the median of the blocks' own ratios."""
    from azure.storage.queue import QueueClient

    from shared.devhost.azurite import Azurite
    from shared.standins.served import LOCAL_ALERTS_KEY, served

    with (
        Azurite.start() as azurite,
        served(azurite.connection_string, LOCAL_ALERTS_KEY) as base,
        echo_server() as echo_url,
    ):
        url = f"{base}/api/alerts?code={LOCAL_ALERTS_KEY}"
        sessions = [requests.Session() for _ in range(CLIENTS)]
        echo_sessions = [requests.Session() for _ in range(CLIENTS)]
        publisher = AzureQueuePublisher(StorageEndpoints(azurite.connection_string))
        text = SAMPLE.decode("utf-8")
        queues = [
            QueueClient.from_connection_string(azurite.connection_string, "bench-bare-put")
            for _ in range(CLIENTS)
        ]
        queues[0].create_queue()
        body = base64.b64encode(SAMPLE).decode("ascii")

        def post(client: int) -> None:
            answer = sessions[client].post(url, data=SAMPLE, headers=JSON, timeout=10)
            assert answer.status_code == 202, answer.text

        def put(client: int) -> None:
            queues[client].send_message(body)

        def own_put(client: int) -> None:  # the same message: base64 of the same body
            publisher.send("bench-forewarn-put", text)

        def echo(client: int) -> None:
            answer = echo_sessions[client].post(echo_url, data=SAMPLE, headers=JSON, timeout=10)
            assert answer.status_code == 202

        for client in range(CLIENTS):  # warm-up: connections, and the first write creates
            for _ in range(5):  # the events queue
                post(client)
                put(client)
                own_put(client)
                echo(client)
        latencies = []
        for _ in range(count):
            started = time.perf_counter()
            post(0)
            latencies.append((time.perf_counter() - started) * 1000)
        sends = {"post": post, "put": put, "own": own_put, "echo": echo}
        rates: dict[str, list[float]] = {f"{k}{n}": [] for k in sends for n in (1, CLIENTS)}
        per_block = max(CLIENTS, count // blocks)
        for block in range(blocks):
            order = list(sends) if block % 2 == 0 else list(reversed(sends))
            for clients in (1, CLIENTS):
                for key in order:
                    rates[f"{key}{clients}"].append(_rate(per_block, clients, sends[key]))
    rate = {key: statistics.median(values) for key, values in rates.items()}

    def paired(clients: int, ratio: Callable[[dict[str, float]], float]) -> float:
        # A ratio per block, of rates taken a moment apart, then the median of those: a
        # minute in which other work took the cores weighs on one block's pair, not on one
        # side's median.
        return statistics.median(
            ratio({key: rates[f"{key}{clients}"][block] for key in sends})
            for block in range(blocks)
        )

    figures: dict[str, float] = {
        "http_p50_ms": percentile(latencies, 0.5),
        "http_p99_ms": percentile(latencies, 0.99),
        "http_max_ms": max(latencies),
    }
    for clients, suffix in ((1, ""), (CLIENTS, "_8_clients")):
        figures.update(
            {
                f"intake{suffix}_per_s": rate[f"post{clients}"],
                f"bare_put{suffix}_per_s": rate[f"put{clients}"],
                f"intake_vs_bare_put{suffix}_x": paired(clients, lambda r: r["post"] / r["put"]),
                f"forewarn_put{suffix}_per_s": rate[f"own{clients}"],
                f"http_echo{suffix}_per_s": rate[f"echo{clients}"],
                # In times per alert: bare put / (forewarn's put + echo round trip).
                f"ceiling{suffix}_x": paired(
                    clients, lambda r: (1 / r["put"]) / (1 / r["own"] + 1 / r["echo"])
                ),
                f"ceiling_sdk_put{suffix}_x": paired(
                    clients, lambda r: (1 / r["put"]) / (1 / r["put"] + 1 / r["echo"])
                ),
            }
        )
    return figures


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
    if "--against" in argv:
        from bench.against import run_against

        return run_against("ingest", argv)
    quick = "--quick" in argv
    rate = in_process(500 if quick else 5000)
    print(f"in-process ingest: {rate:,.0f} validated alerts/s")
    http = over_http(100 if quick else 1000, 3 if quick else 10)
    print(
        f"POST /api/alerts on forewarn serve + Azurite: p50 {http['http_p50_ms']:.1f} ms, "
        f"p99 {http['http_p99_ms']:.1f} ms, max {http['http_max_ms']:.1f} ms"
    )
    for label, suffix in (("1 client", ""), (f"{CLIENTS} clients", "_8_clients")):
        ratio = http[f"intake_vs_bare_put{suffix}_x"]
        print(
            f"intake, {label}: {http[f'intake{suffix}_per_s']:,.0f} alerts/s; bare send_message "
            f"to the same Azurite {http[f'bare_put{suffix}_per_s']:,.0f} /s; ratio {ratio:.2f} "
            f"(goal >= {GOAL_INTAKE_RATIO})"
        )
        print(
            f"  unavoidable, {label}: forewarn's put "
            f"{http[f'forewarn_put{suffix}_per_s']:,.0f} /s, "
            f"HTTP echo round trip {http[f'http_echo{suffix}_per_s']:,.0f} /s; ceiling "
            f"bare put / (forewarn's put + echo) {http[f'ceiling{suffix}_x']:.2f} "
            f"(through the SDK's put: {http[f'ceiling_sdk_put{suffix}_x']:.2f})"
        )
    bare, app = cold_start(3 if quick else 7)
    print(
        f"cold start: python -c pass {bare * 1000:.0f} ms, import function_app "
        f"{app * 1000:.0f} ms, ratio {app / bare:.1f}x (adds {(app - bare) * 1000:.0f} ms)"
    )
    emit(
        "ingest",
        {"in_process_per_s": rate, **http, "import_app_adds_ms": (app - bare) * 1000},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
