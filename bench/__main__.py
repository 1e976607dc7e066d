"""Run every benchmark in turn (``python -m bench [NAME…] [--quick] [--against REV] …``).

Arguments that name a benchmark choose which run; every other argument (``--quick``,
``--against REV``, ``--vms 20,200``) is handed to each of them.
"""

from __future__ import annotations

import importlib
import sys
import time

BENCHMARKS = (
    "ingest",
    "enrich",
    "render",
    "pipeline",
    "fuzz",
    "faults",
    "wave",
    "loganalytics",
    "scheduled",
    "scale",
)


def main(argv: list[str]) -> int:
    wanted = [name for name in argv if name in BENCHMARKS] or list(BENCHMARKS)
    options = [arg for arg in argv if arg not in BENCHMARKS]
    failed = 0
    for name in wanted:
        print(f"\n=== bench/{name}.py", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"bench.{name}")
        code = module.main(options)
        failed += int(code != 0)
        print(f"--- {name}: {time.perf_counter() - started:.1f} s", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
