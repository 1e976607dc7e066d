"""`forewarn demo` (what `make demo` runs) shows a quietest-hour hint and a recovered notice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_demo_shows_quietest_hours_and_a_recovered_notice(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "demo", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    hints = [line for line in out.splitlines() if "quietest: " in line and "% CPU" in line]
    assert any(line.strip().startswith("- sql-01") for line in hints), out[-3000:]
    assert "received: " in out  # the notice the webhook brought, found again
    assert "missing, queued marked recovered: " in out
    assert "recovered notice delivered to every channel" in out
