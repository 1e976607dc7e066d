"""Fuzz: mutated alerts against `forewarn serve` + Azurite on 127.0.0.1 (issue 8).

    python -m bench.fuzz [--quick] [--count N] [--seed S]

Sends 100,000 bodies (5,000 with --quick) to ``POST /api/alerts``: structure-aware mutations
of the real samples (shared/standins/alert_mutations.py), and one in twenty mangled as bytes
(truncated, a byte flipped). Prints the status distribution, the count of 5xx (goal 0), the
slowest answer, and the server's resident memory (VmRSS) before and after. Exits 1 on any 5xx
or any request without an answer within the timeout. Seeded: a run can be repeated exactly.
"""

from __future__ import annotations

import argparse
import random
import time
from collections import Counter
from pathlib import Path

import requests

from shared.standins.alert_mutations import mutate, samples

JSON = {"Content-Type": "application/json"}
TIMEOUT = (5.0, 30.0)


def _serve_pid() -> int | None:
    """The `forewarn serve` child of this process (shared/standins/served.py starts it)."""
    for children in Path("/proc/self/task").glob("*/children"):
        for pid in children.read_text().split():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"shared.cli" in command and b"serve" in command:
                return int(pid)
    return None


def rss_kib(pid: int | None) -> int | None:
    if pid is None:
        return None
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return None


def mangle(body: bytes, rng: random.Random) -> bytes:
    """Byte-level damage: what a broken proxy or a cut connection would deliver."""
    if rng.random() < 0.5:
        return body[: rng.randrange(len(body))]
    at = rng.randrange(len(body))
    return body[:at] + bytes([rng.randrange(256)]) + body[at + 1 :]


def bodies(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    pool = samples()
    made = []
    for _ in range(count):
        body = mutate(rng.choice(pool), rng)
        made.append(mangle(body, rng) if rng.random() < 0.05 else body)
    return made


def run(count: int, seed: int) -> int:
    from shared.devhost.azurite import Azurite
    from shared.standins.served import LOCAL_ALERTS_KEY, served

    with Azurite.start() as azurite, served(azurite.connection_string, LOCAL_ALERTS_KEY) as base:
        url = f"{base}/api/alerts?code={LOCAL_ALERTS_KEY}"
        pid = _serve_pid()
        session = requests.Session()
        for sample in samples():  # warm-up: the first queue write creates the queue
            session.post(url, json=sample, timeout=TIMEOUT)
        before = rss_kib(pid)
        statuses: Counter[int] = Counter()
        hangs = 0
        slowest = (0.0, -1, 0)
        started = time.perf_counter()
        # Generated in slices so that memory is the server's, not the benchmark's.
        for offset in range(0, count, 1000):
            batch = bodies(min(1000, count - offset), seed + offset)
            for index, body in enumerate(batch, start=offset):
                sent = time.perf_counter()
                try:
                    answer = session.post(url, data=body, headers=JSON, timeout=TIMEOUT)
                except requests.RequestException:
                    hangs += 1
                    session = requests.Session()
                    continue
                took = time.perf_counter() - sent
                statuses[answer.status_code] += 1
                if took > slowest[0]:
                    slowest = (took, index, len(body))
        elapsed = time.perf_counter() - started
        after = rss_kib(pid)

    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    print(f"fuzz: {count} mutated requests (seed {seed}) in {elapsed:.0f} s")
    print("  status distribution: " + ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())))
    print(f"  5xx answers:         {server_errors}  (goal 0)")
    print(f"  no answer in time:   {hangs}")
    print(
        f"  slowest answer:      {slowest[0] * 1000:.0f} ms "
        f"(request #{slowest[1]}, {slowest[2]} bytes)"
    )
    print(f"  mean answer:         {elapsed / max(count, 1) * 1000:.1f} ms")
    if before and after:
        print(
            f"  serve RSS:           {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB after "
            f"(x{after / before:.2f})"
        )
    return 1 if server_errors or hangs else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fuzz", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="5,000 requests")
    parser.add_argument("--count", type=int, help="how many requests (default 100,000)")
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)
    count = args.count or (5_000 if args.quick else 100_000)
    return run(count, args.seed)


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
