"""`make serve` when its port is taken (another engineer's or another terminal's serve): one
line that says how to choose another port, and nothing left running behind it.

GIVEN a listening socket on a free loopback port (what another `forewarn serve` holds)
WHEN  `forewarn serve --with-azurite --port THAT_PORT` starts
THEN  it exits 2 with one line naming the address and how to pick another (`--port`, and
      `SERVE_ARGS` for make serve), no traceback,
AND   it started nothing first: no Azurite, no `export` lines pointing at storage that is gone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_a_busy_port_says_how_to_choose_another_and_starts_nothing(tmp_path: Path) -> None:
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("FOREWARN_", "AZURE_", "AzureWebJobs"))
    }
    environ["FOREWARN_ALERTS_KEY"] = "a-valid-local-key"  # so the only line is the port's
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        finished = subprocess.run(
            [
                *(sys.executable, "-m", "shared.cli", "serve", "--with-azurite"),
                *("--port", str(port), "--stand-ins", "off", "--no-timers"),
                *("--settings", str(tmp_path / "none.json")),
            ],
            cwd=ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert finished.returncode == 2, finished.stderr
    lines = [line for line in finished.stderr.splitlines() if line.strip()]
    assert lines == [
        f"forewarn serve: 127.0.0.1:{port} is already in use (another forewarn serve or "
        f"func start?): choose a free port with --port PORT (make serve SERVE_ARGS='--port "
        f"{port + 1}')"
    ], finished.stderr
    assert "Traceback" not in finished.stderr
