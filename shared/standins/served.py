"""`forewarn serve` as a separate process, as a user starts it, for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from shared import names
from shared.devhost.azurite import free_port

ROOT = Path(__file__).resolve().parents[2]
INGEST_ONLY = (names.FUNCTION_INGEST, names.FUNCTION_HEALTH)
LOCAL_ALERTS_KEY = "local-alerts-key-not-secret"  # for 127.0.0.1 benchmarks and tests only


@contextmanager
def served(
    connection_string: str,
    function_key: str,
    functions: tuple[str, ...] = INGEST_ONLY,
    *,
    log_file: Path | None = None,
    options: tuple[str, ...] = (),
) -> Iterator[str]:
    """Start `forewarn serve` on a free port; yield its base URL once it answers.
    ``log_file`` receives its stdout and stderr (default: discarded); ``options`` are more
    `forewarn serve` options (``--signed-in-as NAME``)."""
    port = free_port()
    env = {
        **os.environ,
        names.STORAGE_CONNECTION: connection_string,
        names.SETTING_ALERTS_KEY: function_key,
    }
    command = [
        sys.executable, "-m", "shared.cli", "serve", "--port", str(port),
        "--settings", "/nonexistent", "--functions", ",".join(functions), *options,
    ]  # fmt: skip
    sink = log_file.open("wb") if log_file is not None else subprocess.DEVNULL
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink, stderr=sink)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(f"{base}/api/health", timeout=1)
                break
            except (requests.ConnectionError, requests.Timeout):
                # Its port listens before its app is imported: on a busy machine the first
                # answer can take longer than a second.
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=15)
        if not isinstance(sink, int):
            sink.close()
